"""Behaviour metrics (chapter 7): each recovers the known scene on data videos, each tells its constructed
failure apart from the data, and bad input gets clear errors.

Tolerances are the ones measured on these scenes (with a margin) and stated in cogpe/behaviour.py.
"""

from __future__ import annotations

import inspect
import math
from functools import lru_cache

import pytest
import torch

import cogpe.behaviour as behaviour
import cogpe.failures as failures
from cogpe.behaviour import (
    EQUIVALENT_RADIUS,
    background,
    foreground,
    loop_period,
    measure,
    object_count,
    object_scale,
    object_speed,
    objects,
    repetition,
    repetition_profile,
)
from cogpe.failures import looped, shrunk, slowed, tiled
from cogpe.data import SHAPES, DataConfig, Scene, render, sample_scenes, trajectory

ONE = DataConfig(min_objects=1, max_objects=1)  # one object: nothing occludes, every metric is exact-ish
SEVERAL = DataConfig()  # 1 to 3 objects, which often overlap
SIZES = [(8, 16, 16), (8, 16, 24), (16, 32, 32)]  # (T, H, W): square, non-square, larger and longer
LARGE = [(8, 32, 32), (8, 32, 48)]  # failures whose objects shrink need pixels to show them


@lru_cache(maxsize=None)
def _scenes(config: DataConfig, count: int, seed: int) -> Scene:
    return sample_scenes(config, range(count), seed=seed, split="test")


@lru_cache(maxsize=None)
def _videos(config: DataConfig, count: int, seed: int, size: tuple[int, int, int]) -> torch.Tensor:
    t, h, w = size
    return render(_scenes(config, count, seed), t, h, w)


@lru_cache(maxsize=None)
def _measured(config: DataConfig, count: int, seed: int, size: tuple[int, int, int]) -> dict[str, torch.Tensor]:
    """Speed and scale (frame sides) and count of the data videos, measured once."""
    v = _videos(config, count, seed, size)
    return {"speed": object_speed(v).sides, "scale": object_scale(v).sides, "count": object_count(v)}


def _equivalent_radius(scene: Scene) -> torch.Tensor:
    """``(B, K)`` equivalent radius of every object in frame sides (NaN where inactive)."""
    factor = torch.tensor([EQUIVALENT_RADIUS[s] for s in SHAPES], dtype=torch.float64)
    return (factor[scene.kind] * scene.radius).masked_fill(~scene.active, math.nan)


def _speeds(scene: Scene) -> torch.Tensor:
    """``(B, K)`` speed of every object in frame sides per frame (NaN where inactive)."""
    return scene.velocity.norm(dim=-1).masked_fill(~scene.active, math.nan)


def _within_range(measured: torch.Tensor, truth: torch.Tensor, tol: float) -> torch.Tensor:
    """Whether each ``measured (B,)`` lies between the least and the most of ``truth (B, K)`` ± tol."""
    low = truth.nan_to_num(math.inf).amin(dim=1)
    high = truth.nan_to_num(-math.inf).amax(dim=1)
    return (measured >= low * (1 - tol)) & (measured <= high * (1 + tol))


# --- the metrics recover the scene -------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_speed_of_one_object_is_its_velocity(size):
    scene, v = _scenes(ONE, 16, 0), _videos(ONE, 16, 0, size)
    t, h, w = size
    speed = object_speed(v)
    truth = scene.velocity[:, 0]  # (B, 2) frame sides per frame
    pixels = (truth * torch.tensor([h, w], dtype=torch.float64)).norm(dim=-1)
    assert (speed.sides / truth.norm(dim=-1) - 1).abs().max() < 0.12  # a bounce shortens a step
    assert (speed.pixels / pixels - 1).abs().max() < 0.12
    assert (speed.sides / truth.norm(dim=-1)).median() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_speed_of_several_objects_lies_among_theirs(size):
    """Occlusion merges objects, so some videos read off; most lie within the objects' speeds ± 10 %."""
    scene, v = _scenes(SEVERAL, 24, 1), _videos(SEVERAL, 24, 1, size)
    inside = _within_range(object_speed(v).sides, _speeds(scene), 0.10)
    assert inside.double().mean() >= 0.7


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_scale_of_one_object_is_its_equivalent_radius(size):
    scene, v = _scenes(ONE, 16, 0), _videos(ONE, 16, 0, size)
    t, h, w = size
    truth = _equivalent_radius(scene)[:, 0]
    scale = object_scale(v)
    assert (scale.sides / truth - 1).abs().max() < 0.10  # a thin ring at 16 × 16 reads up to 9 % large
    assert (scale.pixels / (truth * math.sqrt(h * w)) - 1).abs().max() < 0.10
    assert (scale.sides / truth).median() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_scale_of_several_objects_lies_among_theirs(size):
    scene, v = _scenes(SEVERAL, 24, 1), _videos(SEVERAL, 24, 1, size)
    inside = _within_range(object_scale(v).sides, _equivalent_radius(scene), 0.10)
    assert inside.double().mean() >= 0.7


def _clusters(scene: Scene, frames: int, margin: float) -> torch.Tensor:
    """``(B, T)`` groups of active objects whose circumcircles (grown by ``margin``) chain together."""
    centre = trajectory(scene, frames)  # (B, K, T, 2)
    b, k = scene.kind.shape
    out = torch.zeros(b, frames, dtype=torch.long)
    for i in range(b):
        for t in range(frames):
            alive = [j for j in range(k) if scene.active[i, j]]
            group = {j: j for j in alive}
            for p in alive:
                for q in alive:
                    gap = (centre[i, p, t] - centre[i, q, t]).norm() - scene.radius[i, p] - scene.radius[i, q]
                    if p < q and gap < margin:
                        old, new = group[q], group[p]
                        group = {j: new if g == old else g for j, g in group.items()}
            out[i, t] = len(set(group.values()))
    return out


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_count_is_the_objects_up_to_occlusion(size):
    t, h, w = size
    one = object_count(_videos(ONE, 16, 0, size))
    assert torch.equal(one, torch.ones_like(one))
    scene, v = _scenes(SEVERAL, 24, 1), _videos(SEVERAL, 24, 1, size)
    count = object_count(v)
    truth = scene.active.sum(dim=1, keepdim=True).expand_as(count)
    apart = _clusters(scene, t, 1.5 / min(h, w))  # an object is inside its circumcircle, plus one pixel of edge
    assert (count <= truth).all()
    assert (count >= apart).all()
    assert torch.equal(count[apart == truth], truth[apart == truth])  # exact where no two objects touch
    assert (count == truth).double().mean() >= 0.35  # these scenes are crowded: about 45 % of frames measured


@pytest.mark.parametrize("size", SIZES[:2], ids=str)
def test_background_is_the_scenes_colour_ramp(size):
    t, h, w = size
    scene = _scenes(SEVERAL, 24, 1)
    y = (torch.arange(h, dtype=torch.float64) + 0.5) / h - 0.5
    x = (torch.arange(w, dtype=torch.float64) + 0.5) / w - 0.5
    ramp = (scene.background[:, :, None, None] + scene.gradient[:, 0, :, None, None] * y[:, None]
            + scene.gradient[:, 1, :, None, None] * x).clamp(-1, 1)  # (B, 3, H, W)
    assert (background(_videos(SEVERAL, 24, 1, size)) - ramp).abs().max() < 1e-3


@pytest.mark.parametrize("size", LARGE + [(2, 32, 32)], ids=str)
def test_block_averaging_keeps_the_data_and_measures_a_striped_object_whole(size):
    """measure(..., blocks=2) on data: the same counts, scale within 5 % in 9 of 10 videos (median 1 %);
    on the same discs with every other row set to the background, the raw components are fragments
    (about 6 per frame, a fifth of the radius) while the averaged blocks give one object of its radius."""
    v = _videos(ONE, 32, 1, size)
    raw, averaged = measure(v), measure(v, blocks=2)
    assert torch.equal(raw.counts, averaged.counts)
    ratio = averaged.scale.sides / raw.scale.sides
    assert ratio.median() == pytest.approx(1.0, abs=0.01) and ((ratio - 1).abs() < 0.05).double().mean() >= 0.9
    assert torch.allclose(averaged.scale.pixels / averaged.scale.sides, raw.scale.pixels / raw.scale.sides)
    striped = v.clone()
    striped[..., ::2, :] = background(v).unsqueeze(2).expand_as(v)[..., ::2, :]
    split, whole = measure(striped), measure(striped, blocks=2)
    assert split.counts.double().mean() > 4 and (split.scale.sides / raw.scale.sides).nanmedian() < 0.3
    assert (whole.counts == 1).all()
    assert (whole.scale.sides / raw.scale.sides).median() == pytest.approx(1.0, abs=0.03)


def test_block_averaging_refuses_blocks_that_do_not_divide_the_frame():
    v = _videos(ONE, 2, 0, (2, 16, 24))
    with pytest.raises(ValueError, match="blocks=5 must divide"):
        measure(v, blocks=5)
    with pytest.raises(ValueError, match="blocks"):
        measure(v, blocks=0)


# --- each failure is told apart from the data ----------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("factor", [2.0, 4.0])
def test_slowed_videos_read_one_over_factor_the_speed(size, factor):
    t, h, w = size
    scene, v, data = _scenes(ONE, 16, 0), _videos(ONE, 16, 0, size), _measured(ONE, 16, 0, size)["speed"]
    rendered = object_speed(render(scene, t, h, w, frame_step=1 / factor)).sides / data * factor  # exact slowing
    assert rendered.median() == pytest.approx(1.0, abs=0.03)
    assert ((rendered - 1).abs() < 0.25).all()  # a bounce in the first frames slows one down
    crossfaded = object_speed(slowed(v, factor)).sides / data * factor
    assert crossfaded.median() == pytest.approx(1.0, abs=0.05)
    assert (crossfaded < 0.75 * factor).all()  # every slowed video is slower than its data video
    several = object_speed(slowed(_videos(SEVERAL, 24, 1, size), factor)).sides
    assert (several / _measured(SEVERAL, 24, 1, size)["speed"] * factor).nanmedian() == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_looped_videos_repeat_at_their_period(size):
    v = _videos(SEVERAL, 24, 1, size)
    assert (loop_period(v) == 0).all()
    assert (loop_period(slowed(v, 4.0)) == 0).all()  # slow is not a loop
    for period in (2, 3, 5):
        loops = looped(v, period)
        assert torch.allclose(repetition(loops, period), torch.ones(len(v), dtype=torch.float64), atol=1e-9)
        assert (loop_period(loops) == period).all()
        assert (repetition(v, period) < 0.9).all()  # data never repeats: measured at most 0.86


@pytest.mark.parametrize("size", LARGE, ids=str)
def test_shrunk_videos_read_factor_times_the_scale(size):
    for config, count in ((ONE, 16), (SEVERAL, 24)):
        v, data = _videos(config, count, 1, size), _measured(config, count, 1, size)["scale"]
        for factor in (0.5, 0.75):
            ratio = object_scale(shrunk(v, factor)).sides / data / factor
            assert ratio.median() == pytest.approx(1.0, abs=0.03)
            assert ((ratio - 1).abs() < 0.1).double().mean() >= 0.8
            if config is ONE:
                assert ((ratio - 1).abs() < 0.15).all()  # a thin ring shrunk to 1 pixel reads 10 % large


@pytest.mark.parametrize("size", LARGE, ids=str)
def test_tiled_videos_read_n_squared_objects_of_one_nth_the_scale(size):
    n = 2
    for config, count in ((ONE, 16), (SEVERAL, 24)):
        tiles, data = tiled(_videos(config, count, 1, size), n), _measured(config, count, 1, size)
        counts = object_count(tiles).double() / data["count"].double()  # (B, T)
        assert (counts == n * n).double().mean() >= (1.0 if config is ONE else 0.8)
        scale = object_scale(tiles).sides / data["scale"] * n
        assert scale.median() == pytest.approx(1.0, abs=0.03)
        speed = object_speed(tiles).sides / data["speed"] * n
        assert speed.nanmedian() == pytest.approx(1.0, abs=0.05)
    n, data = 3, _measured(ONE, 16, 1, size)  # nine copies of one object, each a third the size
    tiles = tiled(_videos(ONE, 16, 1, size), n)
    assert torch.equal(object_count(tiles), data["count"] * n * n)
    assert (object_scale(tiles).sides / data["scale"] * n).median() == pytest.approx(1.0, abs=0.03)


# --- literal definitions --------------------------------------------------------------------------------


def _flood_count(mask: torch.Tensor) -> int:
    """8-connected components of a 2-D bool mask, by a slow flood fill."""
    h, w = mask.shape
    seen, count = set(), 0
    for i in range(h):
        for j in range(w):
            if mask[i, j] and (i, j) not in seen:
                count += 1
                stack = [(i, j)]
                seen.add((i, j))
                while stack:
                    a, b = stack.pop()
                    for da in (-1, 0, 1):
                        for db in (-1, 0, 1):
                            p, q = a + da, b + db
                            if 0 <= p < h and 0 <= q < w and mask[p, q] and (p, q) not in seen:
                                seen.add((p, q))
                                stack.append((p, q))
    return count


@pytest.mark.parametrize("shape", [(3, 7, 5), (2, 12, 9)])
def test_count_equals_a_flood_fill_on_random_masks(shape):
    t, h, w = shape
    mask = torch.rand(2, t, h, w, generator=torch.Generator().manual_seed(h)) < 0.35
    v = torch.where(mask, 0.8, -0.6)[:, None].float()  # (2, 1, T, H, W): bright on a flat background
    assert torch.equal(foreground(v), mask)
    expected = torch.tensor([[_flood_count(mask[b, k]) for k in range(t)] for b in range(2)])
    assert torch.equal(object_count(v, min_area=0.0), expected)


def test_objects_are_areas_and_centroids_of_components():
    v = torch.full((1, 3, 2, 9, 11), -0.5)
    v[0, :, 0, 1:4, 2:6] = 0.7  # 3 × 4 pixels
    v[0, 0, 1, 5:8, 6:9] = 0.3  # 3 × 3 pixels in the red channel only, in the second frame
    found = objects(v)
    assert found.frame.tolist() == [0, 1]
    assert found.area.tolist() == pytest.approx([12.0, 9.0])
    assert found.y.tolist() == pytest.approx([2.5, 6.5]) and found.x.tolist() == pytest.approx([4.0, 7.5])
    # second moments in frame sides, each pixel a unit square: (side² / 12) / H² along y, / W² along x
    assert found.roundness.tolist() == pytest.approx([(9 / 12 / 81) / (16 / 12 / 121), (9 / 12 / 121) / (9 / 12 / 81)])


def test_repetition_profile_is_the_normalised_correlation():
    v = torch.randn(2, 3, 5, 4, 6, generator=torch.Generator().manual_seed(1))
    x = v.double() - v.double().mean(dim=2, keepdim=True)
    profile = repetition_profile(v)
    for lag in range(5):
        a, b = x[:, :, : 5 - lag].flatten(1), x[:, :, lag:].flatten(1)
        expected = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
        assert torch.allclose(profile[:, lag], expected, atol=1e-12)
        assert torch.equal(repetition(v, lag), profile[:, lag])
    still = torch.ones(1, 1, 4, 3, 3)
    assert repetition_profile(still).tolist() == [[1.0, 1.0, 1.0, 1.0]] and loop_period(still).tolist() == [0]


def test_failures_keep_shape_and_dtype_and_the_background():
    v = _videos(ONE, 4, 0, (8, 16, 24))
    for out in (slowed(v, 2.0), looped(v, 3), shrunk(v, 0.5), tiled(v, 2)):
        assert out.shape == v.shape and out.dtype == v.dtype
    assert torch.equal(slowed(v, 1.0), v) and torch.equal(looped(v, 8), v)
    assert torch.allclose(shrunk(v, 1.0), v, atol=1e-5) and torch.allclose(tiled(v, 1), v, atol=1e-5)
    flat = background(v).float()[:, :, None].expand_as(v).contiguous()  # (B, C, T, H, W): no objects
    assert torch.allclose(shrunk(flat, 0.5), flat, atol=1e-5) and torch.allclose(tiled(flat, 3), flat, atol=1e-5)
    plane = background(v)[:, :, None]  # (B, C, 1, H, W)
    total = float((v.double() - plane).sum())  # area averaging keeps the foreground's sum
    assert float((shrunk(v, 0.5).double() - plane).sum()) == pytest.approx(total / 4, rel=1e-4)
    assert float((tiled(v, 2).double() - plane).sum()) == pytest.approx(total, rel=1e-4)


def test_every_public_name_states_shapes_and_its_chapter():
    for module in (behaviour, failures):
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj):
                doc = inspect.getdoc(obj) or ""
                assert "chapter 7" in doc and "(B," in doc, name


@pytest.mark.parametrize("frames", [1, 2, 3, 8])
def test_measure_is_the_four_metrics_with_the_objects_found_once(frames):
    v = _videos(DataConfig(), 6, 3, (frames, 16, 24))
    m = measure(v)
    assert torch.equal(m.scale.sides.nan_to_num(-1), object_scale(v).sides.nan_to_num(-1))
    assert torch.equal(m.counts, object_count(v))
    if frames >= 2:
        assert torch.equal(m.speed.pixels.nan_to_num(-1), object_speed(v).pixels.nan_to_num(-1))
    else:
        assert m.speed.sides.isnan().all()
    assert torch.equal(m.period, loop_period(v) if frames >= 3 else torch.zeros(6, dtype=torch.long))


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: object_speed(torch.zeros(3, 8, 16, 16)), ValueError, "5 dimensions"),
        (lambda: object_scale(torch.zeros(1, 2, 8, 16, 16)), ValueError, "2 channels"),
        (lambda: object_count(torch.zeros(1, 3, 8, 16, 16, dtype=torch.uint8)), TypeError, "floating"),
        (lambda: object_count([[0.0]]), TypeError, "tensor"),
        (lambda: objects(torch.full((1, 1, 2, 4, 4), math.nan)), ValueError, "NaN"),
        (lambda: object_speed(torch.zeros(1, 3, 1, 16, 16)), ValueError, "at least 2 frames"),
        (lambda: repetition(torch.zeros(1, 3, 4, 8, 8), 4), ValueError, "lag=4"),
        (lambda: repetition(torch.zeros(1, 3, 4, 8, 8), -1), ValueError, "lag"),
        (lambda: repetition(torch.zeros(1, 3, 4, 8, 8), 1.0), TypeError, "lag"),
        (lambda: loop_period(torch.zeros(1, 3, 4, 8, 8), threshold=1.5), ValueError, "threshold=1.5"),
        (lambda: foreground(torch.zeros(1, 3, 4, 8, 8), threshold=0), ValueError, "threshold"),
        (lambda: foreground(torch.zeros(1, 3, 4, 8, 8), threshold=3.0), ValueError, "threshold=3.0"),
        (lambda: objects(torch.zeros(1, 3, 4, 8, 8), min_area=-1), ValueError, "min_area"),
        (lambda: object_speed(torch.zeros(1, 3, 4, 8, 8), max_step=0), ValueError, "max_step"),
        (lambda: slowed(torch.zeros(1, 3, 4, 8, 8), 0.5), ValueError, "factor=0.5"),
        (lambda: looped(torch.zeros(1, 3, 4, 8, 8), 5), ValueError, "period=5"),
        (lambda: looped(torch.zeros(1, 3, 4, 8, 8), 0), ValueError, "period"),
        (lambda: shrunk(torch.zeros(1, 3, 4, 8, 8), 1.5), ValueError, "factor=1.5"),
        (lambda: tiled(torch.zeros(1, 3, 4, 8, 8), 2.0), TypeError, "n"),
        (lambda: tiled(torch.zeros(1, 0, 4, 8, 8), 2), ValueError, "channels"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call, error, words):
    with pytest.raises(error, match=words):
        call()
