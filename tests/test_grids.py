"""cogpe.grids: positions per axis, the crop region (parity with diffusers), latent geometry, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cogpe import (
    arange_positions,
    crop_positions,
    crop_region,
    diffusers_linspace_positions,
    divided_positions,
    grid_positions,
    latent_grid,
    linspace_positions,
    slice_positions,
)


@settings(max_examples=300)
@given(h=st.integers(1, 200), w=st.integers(1, 200), th=st.integers(1, 200), tw=st.integers(1, 200))
def test_crop_region_matches_diffusers(diffusers_crop_region, h, w, th, tw):
    assert crop_region((h, w), (th, tw)) == diffusers_crop_region((h, w), tw, th)


def test_crop_region_reference_values_and_half_even_rounding():
    """Chapter 6, section 6.3; 30x30 -> width round(30/30*30)=30, left round(7.5)=8 (half to even)."""
    assert crop_region((30, 45), (30, 45)) == ((0, 0), (30, 45))
    assert crop_region((48, 85), (30, 45)) == ((2, 0), (27, 45))
    assert crop_region((30, 30), (30, 45)) == ((0, 8), (30, 38))
    assert crop_region((45, 30), (30, 45)) == ((0, 12), (30, 32))
    assert crop_region((60, 90), (30, 45)) == ((0, 0), (30, 45))
    assert crop_region((15, 22), (30, 45)) == ((0, 0), (30, 44))
    # a tie: (10 - 5) / 2 = 2.5 rounds to 2, not 3
    assert crop_region((2, 1), (10, 10)) == ((0, 2), (10, 7))


@settings(max_examples=200)
@given(start=st.integers(-20, 40), length=st.integers(1, 60), n=st.integers(1, 100))
def test_linspace_positions_is_numpy_endpoint_false(start, length, n):
    ref = np.linspace(start, start + length, n, endpoint=False)
    np.testing.assert_allclose(linspace_positions(start, start + length, n).numpy(), ref, rtol=0, atol=1e-12)


@settings(max_examples=200)
@given(start=st.integers(0, 40), length=st.integers(1, 60), n=st.integers(1, 100))
def test_diffusers_linspace_is_what_diffusers_computes(start, length, n):
    stop = start + length
    ref = torch.linspace(start, stop * (n - 1) / n, n)
    assert torch.equal(diffusers_linspace_positions(start, stop, n), ref)
    if start == 0:  # the two conventions agree only for a crop starting at 0
        np.testing.assert_allclose(
            diffusers_linspace_positions(0, stop, n).double(), linspace_positions(0, stop, n), rtol=0, atol=1e-5
        )


def test_linspace_conventions_differ_with_a_nonzero_start():
    """Chapter 6, section 6.4 (a): at 768x1360 the h step is 25/48 = 0.520833 (numpy), 0.519947 (diffusers)."""
    (top, _), (bottom, _) = crop_region((48, 85), (30, 45))
    numpy_h = linspace_positions(top, bottom, 48)
    diffusers_h = diffusers_linspace_positions(top, bottom, 48)
    assert (numpy_h[1] - numpy_h[0]).item() == pytest.approx(0.520833, abs=1e-6)
    assert (diffusers_h[1] - diffusers_h[0]).item() == pytest.approx(0.519947, abs=1e-6)
    assert numpy_h[-1].item() == pytest.approx(26.4792, abs=1e-4)
    assert diffusers_h[-1].item() == pytest.approx(26.4375, abs=1e-4)
    h, w = crop_positions((48, 85), (30, 45), convention="diffusers")
    assert torch.equal(h, diffusers_h) and w[-1].item() == pytest.approx(44.4706, abs=1e-4)
    h, w = crop_positions((30, 30), (30, 45))
    assert w.tolist() == list(np.arange(8.0, 38.0))  # numpy convention: step exactly 1
    _, w = crop_positions((30, 30), (30, 45), convention="diffusers")
    assert (w[1] - w[0]).item() == pytest.approx(0.99080, abs=1e-5)


def test_index_division_and_1875():
    """29/1.875 = 15.4667: the 30-row grid stays inside the 16-row range it was trained on."""
    h = divided_positions(30, 1.875)
    w = divided_positions(45, 1.875)
    assert h[-1].item() == pytest.approx(15.466666, abs=1e-6) and w[-1].item() == pytest.approx(23.466667, abs=1e-6)
    assert 30 / 1.875 == 16 and 45 / 1.875 == 24
    torch.testing.assert_close(divided_positions(7, 1.0), arange_positions(7), rtol=0, atol=0)


def test_slice_and_grid_positions():
    assert torch.equal(slice_positions(48, 150), arange_positions(48))
    t, h, w = grid_positions((2, 3, 4), 2.0)
    assert t.tolist() == [0, 0.5] and w.tolist() == [0, 0.5, 1.0, 1.5]
    assert arange_positions(3).dtype == torch.float64
    assert divided_positions(3, 2, dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize(
    "args, kwargs, grid",
    [
        ((49, 480, 720), {}, (13, 30, 45)),
        ((13, 480, 720), {}, (4, 30, 45)),
        ((1, 480, 720), {}, (1, 30, 45)),
        ((81, 768, 1360), {"patch_size_t": 2}, (11, 48, 85)),
        ((161, 768, 1360), {"patch_size_t": 2}, (21, 48, 85)),
        ((85, 768, 1360), {"patch_size_t": 2}, (11, 48, 85)),  # 22 latent frames: no padding
        ((49, 256, 384), {}, (13, 16, 24)),  # the inferred low-resolution stage of the 2B model
    ],
)
def test_latent_grid(args, kwargs, grid):
    assert latent_grid(*args, **kwargs) == grid


def test_latent_grid_token_count():
    T, H, W = latent_grid(49, 480, 720)
    assert T * H * W == 17550


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: latent_grid(48, 480, 720), ValueError, r"num_frames=48 is not 4k\+1; .* 45 or 49"),
        (lambda: latent_grid(49, 470, 720), ValueError, r"height=470 is not a multiple of vae_scale\*patch_size=16; use e.g. 464 or 480"),
        (lambda: latent_grid(49, 480, 0), ValueError, r"width must be an integer >= 1, got 0"),
        (lambda: latent_grid(49.0, 480, 720), TypeError, r"num_frames must be an integer"),
        (lambda: latent_grid(49, 480, 720, patch_size_t=0), ValueError, r"patch_size_t"),
        (lambda: divided_positions(4, 0.0), ValueError, r"s must be a finite number > 0, got 0.0"),
        (lambda: divided_positions(4, float("inf")), ValueError, r"s must be"),
        (lambda: divided_positions(4, "2"), TypeError, r"s must be a real number"),
        (lambda: divided_positions(True, 2), TypeError, r"n must be an integer"),
        (lambda: arange_positions(3, dtype=torch.bfloat16), TypeError, r"too coarse for positions"),
        (lambda: linspace_positions(5, 5, 3), ValueError, r"stop must be greater than start"),
        (lambda: linspace_positions(0, float("nan"), 3), ValueError, r"finite"),
        (lambda: linspace_positions(0, 4, 0), ValueError, r"n must be an integer >= 1"),
        (lambda: slice_positions(160, 150), ValueError, r"n=160 is larger than the table .*max_n=150"),
        (lambda: crop_region((48, 0), (30, 45)), ValueError, r"grid_hw\[1\] \(W\)"),
        (lambda: crop_region((48, 85, 3), (30, 45)), ValueError, r"grid_hw must have 2 entries ordered \(H, W\)"),
        (lambda: crop_positions((48, 85), (30, 45), convention="torch"), ValueError,
         r"unknown convention 'torch'; valid: 'numpy', 'diffusers'"),
        (lambda: grid_positions((2, 3, 4), (1, 2)), ValueError, r"interpolation must have 3 entries"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
