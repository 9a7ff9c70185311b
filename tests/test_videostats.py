"""Sample statistics (chapter 7): literal definitions, what noise and blur do to them, clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cogpe.data import DataConfig, VideoDataset
from cogpe.videostats import frame_difference, sample_ratios, total_variation, video_statistics


def _literal_tv(v: torch.Tensor) -> float:
    v = v.double()
    b, c, t, h, w = v.shape
    dy = sum(abs(float(v[i, j, k, y + 1, x] - v[i, j, k, y, x]))
             for i in range(b) for j in range(c) for k in range(t) for y in range(h - 1) for x in range(w))
    dx = sum(abs(float(v[i, j, k, y, x + 1] - v[i, j, k, y, x]))
             for i in range(b) for j in range(c) for k in range(t) for y in range(h) for x in range(w - 1))
    return (dy / (b * c * t * (h - 1) * w) + dx / (b * c * t * h * (w - 1))) / 2


def _literal_frame_diff(v: torch.Tensor) -> float:
    v = v.double()
    b, c, t, h, w = v.shape
    total = sum(abs(float(v[i, j, k + 1, y, x] - v[i, j, k, y, x]))
                for i in range(b) for j in range(c) for k in range(t - 1) for y in range(h) for x in range(w))
    return total / (b * c * (t - 1) * h * w)


@pytest.mark.parametrize("shape", [(1, 1, 2, 2, 2), (2, 3, 3, 4, 5), (3, 1, 4, 5, 3)])
def test_equal_to_literal_sums(shape):
    v = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    assert total_variation(v) == pytest.approx(_literal_tv(v), rel=1e-12)
    assert frame_difference(v) == pytest.approx(_literal_frame_diff(v), rel=1e-12)
    assert video_statistics(v) == {"tv": total_variation(v), "frame_diff": frame_difference(v)}


def test_noise_raises_and_blur_lowers_the_ratios():
    data = VideoDataset(DataConfig(), 6, 32, 32, length=8, split="val").batch(range(8))
    assert sample_ratios(data, data) == {"tv": 1.0, "frame_diff": 1.0}
    noisy = data + 0.1 * torch.randn(data.shape, generator=torch.Generator().manual_seed(0))
    blurred = F.avg_pool3d(data, (1, 5, 5), stride=1, padding=(0, 2, 2), count_include_pad=False)
    frozen = data[:, :, :1].expand_as(data)
    assert all(r > 2 for r in sample_ratios(noisy, data).values())
    assert sample_ratios(blurred, data)["tv"] < 0.75
    assert sample_ratios(frozen, data)["frame_diff"] == 0
    # more data videos of the same kind barely move the reference
    more = VideoDataset(DataConfig(), 6, 32, 32, length=64, split="val").batch(range(8, 64))
    assert all(0.7 < r < 1.4 for r in sample_ratios(data, more).values())


def test_bad_input():
    v = torch.zeros(2, 3, 4, 8, 8)
    with pytest.raises(TypeError, match="videos must be a tensor"):
        total_variation(v.numpy())
    with pytest.raises(ValueError, match=r"5 dimensions \(B, C, T, H, W\), got shape \(3, 4, 8, 8\)"):
        frame_difference(v[0])
    with pytest.raises(ValueError, match="needs T >= 2 frames"):
        frame_difference(v[:, :, :1])
    with pytest.raises(ValueError, match="needs H and W >= 2"):
        total_variation(v[..., :1])
    with pytest.raises(ValueError, match=r"same \(C, T, H, W\)"):
        sample_ratios(v, v[:, :, :2])
    with pytest.raises(ValueError, match="data has tv = 0"):
        sample_ratios(torch.rand(2, 3, 4, 8, 8), v)


# --- behaviour ratios: each constructed failure moves its own ratio ----------------------------------------

import math as _math

from cogpe.failures import looped, slowed, tiled
from cogpe.data import DataConfig, VideoDataset
from cogpe.videostats import behaviour_ratios


def _data(seed, frames=16, size=32, n=48):
    return VideoDataset(DataConfig(max_objects=2), frames, size, size, split="val", length=n, seed=seed).batch(range(n))


def test_behaviour_ratios_of_data_are_near_one_and_failures_move_their_own():
    data, other = _data(0), _data(1)
    same = behaviour_ratios(other, data)
    assert all(abs(same[k] - 1) < 0.15 for k in ("speed", "scale", "count")) and same["loops"] == 0
    slow = behaviour_ratios(slowed(other, 2.0), data)
    assert slow["speed"] < 0.65 and abs(slow["scale"] - 1) < 0.15
    tile = behaviour_ratios(tiled(other, 2), data)
    assert tile["count"] > 3 and tile["scale"] < 0.65
    loop = behaviour_ratios(looped(other, 6), data)
    assert loop["loops"] == 1.0 and loop["data_loops"] == 0.0


def test_behaviour_ratios_of_one_frame_have_no_speed_and_check_shapes():
    one = _data(0, frames=1, n=8)
    assert _math.isnan(behaviour_ratios(one, one)["speed"])
    with pytest.raises(ValueError, match="same \\(C, T, H, W\\)"):
        behaviour_ratios(_data(0, size=16, n=4), _data(0, n=4))
