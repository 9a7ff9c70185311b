"""cogpe.embeddings: the position modules return the tables they name, cached per grid, device and dtype,
never saved in a state dict; bad arguments are refused at construction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cogpe import resample_table, resample_table_3d, rope_3d, scaled_rope_3d, sincos_3d
from cogpe.embeddings import PositionTable, RotaryEmbedding3D
from cogpe.strategy import Strategy

BASE = (2, 2, 3)


# --- RotaryEmbedding3D ---------------------------------------------------------------------------


def test_module_buffers_are_not_persistent_and_cache_is_keyed():
    rope = RotaryEmbedding3D(64)
    assert rope.state_dict() == {}
    cos1, sin1 = rope((2, 3, 4))
    torch.testing.assert_close(cos1, rope_3d(64, (2, 3, 4))[0])
    assert rope((2, 3, 4))[0] is cos1  # cached
    cos2, _ = rope((2, 3, 5))  # new grid: rebuilt
    assert cos2.shape == (30, 64)
    cos3, _ = rope((2, 3, 5), dtype=torch.float64)  # new dtype: rebuilt
    assert cos3.dtype == torch.float64 and cos3 is not cos2
    cos4, _ = rope((2, 3, 5), device="meta")  # new device: rebuilt
    assert cos4.device.type == "meta"
    assert rope((2, 3, 5))[0].device.type == "cpu"


def test_module_loads_checkpoints_from_any_resolution():
    a, b = RotaryEmbedding3D(64), RotaryEmbedding3D(64)
    a((13, 30, 45))
    b.load_state_dict(a.state_dict())  # nothing resolution-specific is saved
    assert b((2, 2, 2))[0].shape == (8, 64)


def test_module_follows_to():
    rope = RotaryEmbedding3D(16)
    rope((1, 2, 2))
    rope.to(torch.float64)  # buffers follow .to(); the next call still honours the requested dtype
    assert rope((1, 2, 2))[0].dtype == torch.float32


def test_sincos_tables_are_index_division_of_sincos_3d():
    ext = PositionTable("sincos", 32, BASE)
    itp = PositionTable("sincos", 32, BASE, strategy="interpolate")
    grid = (4, 5, 6)  # s = (2, 2.5, 2)
    torch.testing.assert_close(ext(grid), sincos_3d(32, grid), atol=0, rtol=0)
    torch.testing.assert_close(itp(grid), sincos_3d(32, grid, (2.0, 2.5, 2.0)), atol=0, rtol=0)
    # CogVideoX-2B's own numbers: 30 x 45 from a 16 x 24 base is exactly /1.875 on both spatial axes
    cog = PositionTable("sincos", 64, (13, 16, 24), strategy="interpolate")
    torch.testing.assert_close(cog((13, 30, 45)), sincos_3d(64, (13, 30, 45), (1.0, 1.875, 1.875)), atol=0, rtol=0)
    # an axis shorter than the base (s < 1) keeps arange
    torch.testing.assert_close(itp((1, 4, 2)), sincos_3d(32, (1, 4, 2), (1.0, 2.0, 1.0)), atol=0, rtol=0)


def test_learned_table_is_resampled_bicubic_in_space_linear_in_time():
    pe = PositionTable("learned", 32, BASE)
    torch.testing.assert_close(pe.table.detach(), sincos_3d(32, BASE), atol=0, rtol=0)  # initialised from sincos
    assert pe(BASE) is pe.table or torch.equal(pe(BASE), pe.table)
    with torch.no_grad():
        pe.table.add_(torch.randn_like(pe.table))
    grid = (3, 5, 7)
    got = pe(grid)
    # literal reference: F.interpolate frame by frame (bicubic), then along T (linear), align_corners=False
    t0, h0, w0 = BASE
    frames = pe.table.detach().reshape(t0, h0, w0, 32).permute(0, 3, 1, 2)  # (T0, D, H0, W0)
    spatial = F.interpolate(frames, size=grid[1:], mode="bicubic", align_corners=False)  # (T0, D, H, W)
    seq = spatial.permute(2, 3, 1, 0).reshape(-1, 32, t0)  # (H*W, D, T0)
    temporal = F.interpolate(seq, size=grid[0], mode="linear", align_corners=False)  # (H*W, D, T)
    expected = temporal.reshape(grid[1], grid[2], 32, grid[0]).permute(3, 0, 1, 2).reshape(-1, 32)
    torch.testing.assert_close(got.detach(), expected, atol=1e-5, rtol=1e-5)
    # equals cogpe.resample_table per frame then resample_table_3d
    per_frame = torch.stack([resample_table(pe.table.detach().reshape(t0, h0 * w0, 32)[i], BASE[1:], grid[1:])
                             for i in range(t0)])  # (T0, H*W, D)
    ref = resample_table_3d(per_frame.reshape(-1, 32), (t0, *grid[1:]), grid)
    torch.testing.assert_close(got.detach(), ref, atol=1e-5, rtol=1e-5)
    # gradients reach the base table through the resampling
    got.sum().backward()
    assert pe.table.grad is not None and pe.table.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: RotaryEmbedding3D(64, strategy="bogus"), ValueError, r"unknown strategy 'bogus'; valid:"),
        (lambda: RotaryEmbedding3D(64)((1, 2)), ValueError, r"grid must have 3 entries"),
        (lambda: RotaryEmbedding3D(64, strategy="resample"), ValueError, r"cannot be applied to a rope encoding"),
        (lambda: RotaryEmbedding3D(64, strategy=Strategy("riflex", riflex_k=12)), ValueError, r"riflex_k\[0\] \(t\)=12"),
        (lambda: RotaryEmbedding3D(64, strategy=Strategy("yarn"), yarn_beta=8.0), TypeError, r"options .* Strategy object"),
        (lambda: PositionTable("rope", 32, BASE), ValueError, r"unknown encoding 'rope'; valid: 'sincos', 'learned'"),
        (lambda: PositionTable("sincos", 32, BASE, strategy="ntk"), ValueError,
         r"'ntk' cannot be applied to a sincos encoding; valid for sincos: 'extrapolate', 'interpolate'"),
        (lambda: PositionTable("learned", 32, BASE, strategy="interpolate"), ValueError, r"valid for learned: 'resample'"),
        (lambda: PositionTable("sincos", 40, BASE), ValueError, r"dim=40"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_module_holds_one_validated_strategy():
    rope = RotaryEmbedding3D(64, strategy={"rope_type": "yarn", "beta_fast": 8}, base_grid=(2, 3, 4))
    assert rope.strategy == Strategy("yarn", yarn_beta=8.0)
    cos, sin = rope((4, 6, 8))
    ref_cos, ref_sin = scaled_rope_3d(64, (4, 6, 8), (2, 3, 4), "yarn", yarn_beta=8.0)
    assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)
