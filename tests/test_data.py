"""Chapter 7's data: procedural scenes are deterministic, resolution-independent (a zoom) and time-consistent."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cogpe.data import SHAPES, DataConfig, Scene, VideoDataset, render, sample_scenes, trajectory

CFG = DataConfig()


def test_same_seed_same_video_and_index_independence():
    a = VideoDataset(CFG, 4, 16, 16, length=100, seed=3)
    b = VideoDataset(CFG, 4, 16, 16, length=100, seed=3)
    assert torch.equal(a[7], b[7])
    # scene i does not depend on which other scenes share its batch
    assert torch.equal(a.batch([2, 7, 9])[1], a.batch([7])[0])
    assert not torch.equal(a[7], a[8])
    assert not torch.equal(a[7], VideoDataset(CFG, 4, 16, 16, length=100, seed=4)[7])
    assert not torch.equal(a[7], VideoDataset(CFG, 4, 16, 16, length=100, seed=3, split="val")[7])


def test_layout_range_dtype():
    v = VideoDataset(CFG, 5, 12, 20, length=3).batch([0, 1, 2])
    assert v.shape == (3, 3, 5, 12, 20) and v.dtype == torch.float32
    assert v.min() >= -1 and v.max() <= 1
    g = VideoDataset(DataConfig(channels=1), 5, 12, 20, length=3)[0]
    assert g.shape == (1, 5, 12, 20)


@pytest.mark.parametrize("size", [(8, 8), (16, 16), (12, 20)])
def test_zoom_consistency(size):
    """Rendering at 2× and average-pooling 2×2 is close to rendering directly: a pure zoom."""
    h, w = size
    lo = VideoDataset(CFG, 4, h, w, length=64).batch(range(32))
    hi = VideoDataset(CFG, 4, 2 * h, 2 * w, length=64).batch(range(32))
    pooled = F.avg_pool3d(hi, (1, 2, 2))
    err = (pooled - lo).abs().mean().item()
    signal = (lo - lo.mean(dim=(-1, -2), keepdim=True)).abs().mean().item()
    assert err < 0.02 and err < 0.1 * signal, (err, signal)


def test_more_frames_is_a_longer_clip_and_frame_step_is_a_temporal_zoom():
    ds = VideoDataset(CFG, 6, 16, 16, length=10)
    base = ds.batch(range(4))
    longer = ds.resized(frames=12).batch(range(4))
    assert torch.equal(longer[:, :, :6], base)  # canvas in time: a prefix
    denser = ds.resized(frames=12, frame_step=0.5).batch(range(4))
    torch.testing.assert_close(denser[:, :, ::2], base, atol=1e-5, rtol=0)  # zoom in time: every other frame
    late = render(ds.scenes(range(4)), 3, 16, 16, start=3.0)
    torch.testing.assert_close(late, base[:, :, 3:], atol=1e-5, rtol=0)


def test_bounce_keeps_objects_inside_and_is_elastic():
    scene = sample_scenes(CFG, range(16))
    c = trajectory(scene, 400, frame_step=0.5)  # (B, K, T, 2)
    r = scene.radius[..., None, None]
    assert (c >= r - 1e-12).all() and (c <= 1 - r + 1e-12).all()
    speed = (c[:, :, 1:] - c[:, :, :-1]).abs() / 0.5  # per-axis speed is conserved by a reflection
    v = scene.velocity.abs()[:, :, None, :]
    assert ((speed - v).abs() < 1e-9).float().mean() > 0.9  # except on steps that straddle a bounce
    assert (speed <= v + 1e-9).all()


def test_literal_pixel_of_a_lone_disc():
    """One disc, no gradient: a pixel centre well inside is the disc colour, far outside the background."""
    scene = sample_scenes(DataConfig(min_objects=1, max_objects=1, shapes=("disc",), gradient=0.0), [0])
    video = render(scene, 1, 64, 64)
    cy, cx = scene.center[0, 0].tolist()
    i, j = int(cy * 64), int(cx * 64)
    torch.testing.assert_close(video[0, :, 0, i, j], scene.color[0, 0].float(), atol=1e-6, rtol=0)
    r = 0.8 * scene.radius[0, 0].item()
    yy = (torch.arange(64) + 0.5) / 64
    far = ((yy[:, None] - cy) ** 2 + (yy[None, :] - cx) ** 2).sqrt() > r + 2 / 64
    bg = scene.background[0].float()[:, None]
    torch.testing.assert_close(video[0, :, 0][:, far], bg.expand(-1, int(far.sum())), atol=1e-6, rtol=0)
    inside = ((yy[:, None] - cy) ** 2 + (yy[None, :] - cx) ** 2).sqrt() < r - 1 / 64
    area = inside.float().mean().item()
    assert abs(area - math.pi * r * r) < 0.15 * math.pi * r * r + 4 * r / 64


def test_occlusion_later_objects_on_top():
    cfg = DataConfig(min_objects=2, max_objects=2, shapes=("square",), gradient=0.0, size=(0.2, 0.2), speed=(0.01, 0.01))
    scene = sample_scenes(cfg, [5])
    scene = Scene(**{**scene.__dict__, "center": torch.tensor([[[0.5, 0.5], [0.5, 0.5]]], dtype=torch.float64)})
    video = render(scene, 1, 32, 32)
    torch.testing.assert_close(video[0, :, 0, 16, 16], scene.color[0, 1].float(), atol=1e-6, rtol=0)


def test_inactive_objects_are_not_drawn():
    cfg = DataConfig(min_objects=1, max_objects=3)
    scenes = sample_scenes(cfg, range(40))
    counts = scenes.active.sum(1)
    assert counts.min() >= 1 and counts.max() <= 3 and len(set(counts.tolist())) > 1
    only = Scene(**{**scenes.__dict__, "active": torch.zeros_like(scenes.active)})
    plain = render(only[0], 1, 8, 8)
    assert (plain[0, :, 0] - plain[0, :, 0].mean(dim=(1, 2), keepdim=True)).abs().max() <= 0.5  # gradient only


def test_dataloader_equals_batch():
    ds = VideoDataset(CFG, 4, 8, 8, length=6)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, shuffle=False)
    batches = list(loader)
    assert torch.equal(batches[1], ds.batch([3, 4, 5]))
    assert ds[-1].shape == ds[5].shape and torch.equal(ds[-1], ds[5])


def test_every_shape_renders():
    for shape in SHAPES:
        cfg = DataConfig(min_objects=1, max_objects=1, shapes=(shape,), gradient=0.0)
        v = VideoDataset(cfg, 1, 32, 32, length=1)[0]
        assert (v - v[:, :, :1, :1]).abs().amax() > 0.3, shape  # the object is visible


def test_rendering_is_fast():
    ds = VideoDataset(CFG, 8, 32, 32, length=10_000)
    ds.batch(range(16))
    import time

    t0 = time.perf_counter()
    ds.batch(range(16, 32))
    assert time.perf_counter() - t0 < 1.0  # ~15 ms on 2 cores; generous against noisy machines


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(min_objects=3, max_objects=2), "min_objects=3 is larger than max_objects=2"),
        (dict(shapes=("hexagon",)), "unknown shape 'hexagon'"),
        (dict(shapes=()), "shapes must be a non-empty tuple"),
        (dict(size=(0.3, 0.6)), "does not fit in the frame"),
        (dict(speed=(0.2, 0.1)), "low <= high"),
        (dict(channels=2), "channels must be 3"),
        (dict(spin=-1.0), "spin must be a finite number >= 0"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        DataConfig(**kwargs)


def test_bad_dataset_arguments():
    with pytest.raises(ValueError, match="frames must be an integer >= 1, got 0"):
        VideoDataset(CFG, 0, 8, 8)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        VideoDataset(CFG, 2, 8, 8, split="dev")
    with pytest.raises(IndexError, match="out of range"):
        VideoDataset(CFG, 2, 8, 8, length=3)[3]
    with pytest.raises(ValueError, match="frame_step must be a finite number > 0"):
        VideoDataset(CFG, 2, 8, 8, frame_step=0)
    with pytest.raises(ValueError, match="indices is empty"):
        sample_scenes(CFG, [])


# --- a spatial canvas: a wider field of view at the same pixels per object -------------------------------


def test_canvas_has_the_same_density_and_stays_inside():
    wide = sample_scenes(CFG, range(40), extent=2.0)
    counts = wide.active.sum(1)
    assert wide.kind.shape[1] == 12 and counts.min() >= 4 and counts.max() <= 12  # 4x the area, 4x the objects
    assert (wide.extent == 2.0).all() and (sample_scenes(CFG, [0]).extent == 1.0).all()
    c = trajectory(wide, 300)
    r = wide.radius[..., None, None]
    assert (c >= r - 1e-12).all() and (c <= 2 - r + 1e-12).all() and (c > 1).any()
    # sizes and speeds are drawn from the same ranges (base-frame units) as at extent 1
    assert CFG.size[0] <= wide.radius.min() and wide.radius.max() <= CFG.size[1]
    speed = wide.velocity.norm(dim=-1)
    assert CFG.speed[0] - 1e-12 <= speed.min() and speed.max() <= CFG.speed[1] + 1e-12


def test_canvas_keeps_pixels_per_object():
    """One disc at extent 2 rendered at 32x32 covers as many pixels as the same disc at extent 1 at 16x16."""
    cfg = DataConfig(min_objects=1, max_objects=1, shapes=("disc",), gradient=0.0)
    one = sample_scenes(cfg, [0])
    wide = Scene(**{**one.__dict__, "extent": torch.tensor([2.0], dtype=torch.float64),
                    "center": one.center + 0.5})  # the same disc, away from the canvas border
    a = render(one, 1, 16, 16)[0, :, 0]
    b = render(wide, 1, 32, 32)[0, :, 0]
    bg = one.background[0].float()[:, None, None]
    area = lambda v: (v - bg).abs().sum(0).gt(1e-3).float().sum().item()  # noqa: E731
    ink = lambda v: (v - bg).abs().sum().item()  # noqa: E731
    assert area(a) == area(b) and ink(a) == pytest.approx(ink(b), rel=1e-4)
    # and a zoom (extent 1 at 32x32) has four times the pixels of ink
    assert ink(render(one, 1, 32, 32)[0, :, 0]) == pytest.approx(4 * ink(a), rel=0.05)


def test_extent_one_is_the_default_and_resized_changes_it():
    ds = VideoDataset(CFG, 4, 16, 16, length=8, split="val")
    assert torch.equal(ds.batch([1, 2]), VideoDataset(CFG, 4, 16, 16, length=8, split="val", extent=1.0).batch([1, 2]))
    wide = ds.resized(height=32, width=32, extent=2.0)
    assert (wide.height, wide.extent, wide.split, len(wide)) == (32, 2.0, "val", 8)
    assert wide.batch([0]).shape == (1, 3, 4, 32, 32) and "extent=2.0" in repr(wide)


@pytest.mark.parametrize("extent, match", [(0.4, "extent=0.4 leaves no room"), (0, "extent must be"),
                                           (True, "extent must be"), ("2", "extent must be")])
def test_bad_extent(extent, match):
    with pytest.raises((TypeError, ValueError), match=match):
        sample_scenes(CFG, [0], extent=extent)
    with pytest.raises((TypeError, ValueError), match=match):
        VideoDataset(CFG, 2, 8, 8, extent=extent)
