"""cogpe.adapters.use_strategy on Mochi, whose RoPE frequencies are learned and mix the axes.

A tiny ``MochiTransformer3DModel`` (2 heads of 8, its ``pos_frequencies`` drawn at random), scaled from
``base_grid`` 3×4×6 tokens (tests/adapters_families_support.py). Oracles: the unpatched model (its own
``rope`` module), or the unpatched model fed tables computed in numpy float64 from the published formula
(``mochi_oracle``, ``feeding``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adapters_support import one_thread  # noqa: F401 (autouse fixture)
from adapters_families_support import (
    AREA,
    BASE,
    feeding,
    generate,
    inputs,
    mochi_oracle,
    run,
    tiny_mochi,
    tiny_mochi_pipeline,
)
from cogpe.adapters import BASE_GRIDS, SUPPORTED_TRANSFORMERS, use_strategy
from cogpe.adapters.mochi import MOCHI_STRATEGIES, mochi_positions
from cogpe.strategy import ENCODINGS, Strategy

GRIDS = [(5, 7, 9), (3, 8, 9), (2, 9, 5), (6, 4, 13)]  # none keeps the base's aspect ratio (see the last tests)


@pytest.fixture(scope="module")
def mochi():
    return tiny_mochi()


def test_mochi_is_supported_with_its_preset():
    """163 frames at 480 × 848 through the 6× / 8× VAE and patch 2: 28 × 30 × 53 tokens, the default base."""
    assert "MochiTransformer3DModel" in SUPPORTED_TRANSFORMERS
    assert BASE_GRIDS["mochi"].grids == ((28, 30, 53),)
    with use_strategy(tiny_mochi(layers=1), "interpolate") as handle:
        assert handle.model.family == "Mochi" and handle.base_grids == ((28, 30, 53),)
        assert handle.model.strategies == MOCHI_STRATEGIES == ("extrapolate", "interpolate", "scale-shift")


@pytest.mark.parametrize("name", MOCHI_STRATEGIES)
def test_training_grid_is_bit_identical(mochi, name):
    expected = run(mochi, BASE)
    with use_strategy(mochi, name, base_grid=BASE) as handle:
        assert torch.equal(run(mochi, BASE), expected)
        own = mochi.rope(mochi.pos_frequencies, *BASE, dtype=torch.float32)
        assert all(torch.equal(a, b) for a, b in zip(handle.tables(BASE), own))


def test_tables_matter_in_the_tiny_model(mochi):
    grid = (3, 8, 12)
    _, cos, sin = mochi_oracle(mochi, grid, BASE, "extrapolate")
    with feeding(mochi, (cos, sin)):
        other = run(mochi, grid)
    assert (other - run(mochi, grid)).abs().max() > 1e-2


@pytest.mark.parametrize("name", MOCHI_STRATEGIES)
@pytest.mark.parametrize("grid", GRIDS)
def test_larger_grids_equal_the_model_fed_the_published_formula(mochi, name, grid):
    """Positions: time m (or m/s), height and width centred cells at the trained spacing (or the trained
    extent, under interpolate); tables through the learned frequencies. Equal to float32 rounding, and not
    Mochi's own area-kept positions."""
    positions, cos, sin = mochi_oracle(mochi, grid, BASE, name)
    with feeding(mochi, (cos, sin)):
        expected = run(mochi, grid)
    with use_strategy(mochi, name, base_grid=BASE) as handle:
        given = run(mochi, grid)
        mine = handle.tables(grid)
    np.testing.assert_allclose(mochi_positions(Strategy(name), grid, BASE).numpy(), positions, rtol=0, atol=2e-5)
    np.testing.assert_allclose(mine[0].numpy(), cos, rtol=0, atol=2e-5)
    np.testing.assert_allclose(mine[1].numpy(), sin, rtol=0, atol=2e-5)
    torch.testing.assert_close(given, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(given, run(mochi, grid), atol=1e-4)


@pytest.mark.parametrize("grid", [(3, 8, 12), (2, 6, 9), (3, 12, 18)])
def test_interpolate_is_mochis_own_rule_where_height_and_width_scale_alike(mochi, grid):
    """Mochi keeps the area its positions cover; with the aspect ratio kept (and time no longer), that is
    PI on both spatial axes of a larger grid, so interpolate gives the unpatched model's output (to float32 rounding)."""
    with use_strategy(mochi, "interpolate", base_grid=BASE):
        given = run(mochi, grid)
    torch.testing.assert_close(given, run(mochi, grid), rtol=1e-5, atol=1e-5)


def test_interpolate_keeps_the_trained_extent_and_extrapolate_the_spacing():
    base, grid = (2, 4, 6), (4, 8, 6)
    spacing = (192 * 192 / 24) ** 0.5
    for name, extent in (("extrapolate", 8 * spacing), ("interpolate", 4 * spacing)):
        h = mochi_positions(Strategy(name), grid, base)[::6, 1][:8]  # t = 0, w = 0: the 8 rows of h
        cell = extent / 8
        assert h[0].item() == pytest.approx(-extent / 2 + cell / 2) and h[-1].item() == pytest.approx(extent / 2 - cell / 2)
    t = mochi_positions(Strategy("interpolate"), grid, base)[::48, 0]
    assert t.tolist() == [0.0, 0.5, 1.0, 1.5]


@pytest.mark.parametrize("name", [n for n in ENCODINGS["rope"] if n not in MOCHI_STRATEGIES])
def test_strategies_on_frequencies_or_crop_regions_are_refused(name):
    with pytest.raises(ValueError, match=rf"strategy='{name}' cannot be used by Mochi, whose RoPE frequencies are "
                                         r"learned per head and mix t, h and w .* valid strategies: 'extrapolate', "
                                         r"'interpolate'"):
        use_strategy(tiny_mochi(layers=1), name)


def test_other_refusals_name_the_fix():
    transformer = tiny_mochi(layers=1)
    with pytest.raises(ValueError, match=r"strategy=Strategy\('yarn'.*cannot be used by Mochi"):
        use_strategy(transformer, {"rope_type": "yarn", "factor": 2.0})
    with pytest.raises(ValueError, match=r"strategy='ntk' cannot be used by Mochi"):
        use_strategy(transformer, "interpolate", late="ntk", watershed=0.5)
    with pytest.raises(ValueError, match=r"base_grid='wan-480p' is a Wan preset, but the model is Mochi; Mochi "
                                         r"presets: 'mochi', or pass"):
        use_strategy(transformer, "interpolate", base_grid="wan-480p")
    with use_strategy(transformer, "interpolate", base_grid=BASE):
        with pytest.raises(ValueError, match=r"latent width W=5 is not a multiple of patch_size=2"):
            transformer(torch.zeros(1, 4, 3, 8, 5), torch.zeros(1, 3, 8), torch.tensor([1]), torch.ones(1, 3))


def test_a_schedule_and_removal_restore_the_model():
    transformer = tiny_mochi(layers=1)
    grid = (5, 7, 9)
    expected, trained = run(transformer, grid), run(transformer, BASE)
    with use_strategy(transformer, "interpolate", late="extrapolate", watershed=0.5, base_grid=BASE) as handle:
        assert torch.equal(run(transformer, BASE), trained)
        early = handle.tables(grid, timestep=900)[0]
        late = handle.tables(grid, timestep=100)[0]
        assert not torch.equal(early, late)
    assert torch.equal(run(transformer, grid), expected)
    with pytest.raises(KeyError):
        with use_strategy(transformer, "interpolate", base_grid=BASE):
            raise KeyError("inside")
    assert torch.equal(run(transformer, grid), expected)


def test_tiny_pipeline_runs_under_a_strategy():
    """MochiPipeline: its own latents at the trained grid under interpolate, new ones at a larger call; frame
    counts that are not 6N+1 are refused before the prompt is used."""
    pipeline = tiny_mochi_pipeline(tiny_mochi(layers=1))
    trained = dict(num_frames=13, height=64, width=96)  # 3 × 4 × 6 tokens
    own, larger = generate(pipeline, **trained), generate(pipeline, num_frames=19, height=96, width=128)
    with use_strategy(pipeline, "interpolate", base_grid=BASE):
        assert torch.equal(generate(pipeline, **trained), own)
        scaled = generate(pipeline, num_frames=19, height=96, width=128)
        assert scaled.shape == larger.shape and not torch.allclose(scaled, larger, atol=1e-4)
        with pytest.raises(ValueError, match=r"num_frames=14 cannot be taken by Mochi: frames must be 6N\+1 "
                                             r"\(e.g. 13 or 19\)"):
            generate(pipeline, num_frames=14, height=64, width=96)
    assert torch.equal(generate(pipeline, **trained), own)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_half_precision_is_its_own_at_the_trained_grid(dtype):
    """Cast whole, Mochi still builds its tables in float32 (its learned frequencies cast up): so does the hook."""
    model = tiny_mochi(layers=1).to(dtype)
    hidden, text, step, mask = inputs(BASE)

    def forward():
        with torch.no_grad():
            return model(hidden.to(dtype), text.to(dtype), step, mask).sample

    own = forward()
    for name in MOCHI_STRATEGIES:
        with use_strategy(model, name, base_grid=BASE):
            assert torch.equal(forward(), own), name


# --- scale-shift (ComfyUI's ScaleROPE) on Mochi's centred, area-normalised coordinates ---

SCALE_SHIFTS = [((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)), ((1.0, 0.5, 0.5), (0.0, 0.0, 0.0)), ((0.5, 1.0, 1.0), (2.0, 0.0, 0.0)),
                ((1.0, 1.0, 1.0), (0.0, 1.5, -2.0)), ((2.0, 0.75, 1.25), (-1.0, 3.0, 0.5))]


def scale_shift_oracle(model, grid, base, scale, shift):
    """``(positions (N, 3), cos, sin (N, heads, head_dim/2))`` in numpy float64, eq. mochi-scale-shift written
    out: time ``shift_t + scale_t·m``; height and width ``σ0·(scale·(i − (n−1)/2) + shift)``, σ0 = sqrt(A/(H0·W0))."""
    spacing = np.sqrt(AREA / (base[1] * base[2]))
    axes = []
    for axis, n in enumerate(grid):
        i = np.arange(n, dtype=np.float64)
        centred = i if axis == 0 else i - (n - 1) / 2
        axes.append((scale[axis] * centred + shift[axis]) * (1.0 if axis == 0 else spacing))
    positions = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)  # (N, 3) rows t·H·W + h·W + w
    angles = np.einsum("nd,dhf->nhf", positions, model.pos_frequencies.detach().double().numpy())
    return positions, np.cos(angles), np.sin(angles)


@pytest.mark.parametrize("scale, shift", SCALE_SHIFTS, ids=lambda v: "-".join(map(str, v)))
@pytest.mark.parametrize("grid", [BASE, *GRIDS])
def test_scale_shift_equals_the_model_fed_the_written_out_positions(mochi, grid, scale, shift):
    """Positions and tables equal eq. mochi-scale-shift computed in numpy (float32 rounding), and the adapted
    model the unpatched one fed those tables, at the trained grid and at larger ones of other aspects."""
    strategy = Strategy("scale-shift", position_scale=scale, position_shift=shift)
    positions, cos, sin = scale_shift_oracle(mochi, grid, BASE, scale, shift)
    with feeding(mochi, (cos, sin)):
        expected = run(mochi, grid)
    with use_strategy(mochi, strategy, base_grid=BASE) as handle:
        given = run(mochi, grid)
        mine = handle.tables(grid)
    np.testing.assert_allclose(mochi_positions(strategy, grid, BASE).numpy(), positions, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(mine[0].numpy(), cos, rtol=0, atol=1e-4)
    np.testing.assert_allclose(mine[1].numpy(), sin, rtol=0, atol=1e-4)
    torch.testing.assert_close(given, expected, rtol=1e-5, atol=1e-5)


def test_scale_shift_at_its_defaults_is_mochis_own_at_the_trained_grid_and_extrapolate_elsewhere(mochi):
    own = mochi.rope(mochi.pos_frequencies, *BASE, dtype=torch.float32)
    with use_strategy(mochi, "scale-shift", base_grid=BASE) as handle:
        assert all(torch.equal(a, b) for a, b in zip(handle.tables(BASE), own))
    for grid in GRIDS:
        assert torch.equal(mochi_positions(Strategy("scale-shift"), grid, BASE),
                           mochi_positions(Strategy("extrapolate"), grid, BASE))


def test_scale_shift_scales_about_the_centre_and_shifts_in_trained_steps():
    """Scale 2 doubles every distance from the axis's centre; shift 1 moves the whole axis by one trained step σ0."""
    base, grid = (2, 4, 6), (2, 5, 6)
    spacing = (AREA / 24) ** 0.5
    plain = mochi_positions(Strategy("extrapolate"), grid, base).view(2, 5, 6, 3)
    scaled = mochi_positions(Strategy("scale-shift", position_scale=(1, 2, 1)), grid, base).view(2, 5, 6, 3)
    moved = mochi_positions(Strategy("scale-shift", position_shift=(3, 0, 1)), grid, base).view(2, 5, 6, 3)
    torch.testing.assert_close(scaled[..., 1], 2 * plain[..., 1], rtol=0, atol=1e-4)
    assert scaled[0, 2, 0, 1].item() == 0.0  # the centre row of an odd axis stays put
    torch.testing.assert_close(moved[..., 2], plain[..., 2] + spacing, rtol=0, atol=1e-4)
    assert torch.equal(moved[..., 0], plain[..., 0] + 3) and torch.equal(moved[..., 1], plain[..., 1])


def test_scale_shift_options_are_checked_by_the_strategy():
    with pytest.raises(ValueError, match=r"position_scale"):
        use_strategy(tiny_mochi(layers=1), Strategy("scale-shift", position_scale=(1.0, 0.0, 1.0)), base_grid=BASE)


def test_a_pipeline_runs_under_scale_shift():
    pipeline = tiny_mochi_pipeline(tiny_mochi(layers=1))
    own = generate(pipeline, num_frames=13, height=64, width=96)
    with use_strategy(pipeline, "scale-shift", base_grid=BASE):
        assert torch.equal(generate(pipeline, num_frames=13, height=64, width=96), own)
