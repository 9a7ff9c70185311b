"""cogpe.adapters.use_strategy on the table CogVideoX's patch embedding adds: CogVideoX-2B's sincos table and
CogVideoX-5B-I2V's learned one (cogpe/adapters/patch_tables.py).

Tiny models (tests/adapters_support.py): a 2B layout trained on 2×15×15 tokens with diffusers' 1.875 (so
the stage it was interpolated from is 2×8×8, as 16×24 is for the real 2B's 30×45), and the 5B-I2V layout
(RoPE plus a random learned table) trained on 3×4×6. Oracles: the unpatched model (diffusers builds the
2B's table itself at any grid), the unpatched model with another ``spatial_interpolation_scale``, and
the unpatched model fed a table computed independently with :mod:`cogpe` through diffusers' own path
(``feeding_table``).
"""

from __future__ import annotations

import copy

import pytest
import torch

from adapters_support import (
    BASE,
    BASE_2B,
    SCALE_2B,
    STAGE_2B,
    TEXT,
    feeding_table,
    generate,
    joint,
    one_thread,  # noqa: F401 (autouse fixture)
    pipeline_tables,
    run,
    tiny_2b,
    tiny_pipeline,
    tiny_transformer,
)
from cogpe.adapters import use_strategy
from cogpe.resample import resample_video_table
from cogpe.sincos import sincos_3d
from cogpe.strategy import ENCODINGS, STRATEGIES, Strategy
from cogpe.strategy_tables import scaled_sincos_3d

SINCOS = ENCODINGS["sincos"]
DIM = 32  # 2 heads of 16: the tiny models' width, the table's channels


@pytest.fixture(scope="module")
def two_b():
    return tiny_2b()


def literal_2b_table(grid, strategy):
    """The 2B's table under ``strategy``, independently: sincos_3d on the strategy's float64 positions / 1.875."""
    positions = [g / s for g, s in zip(Strategy(strategy).positions(grid, BASE_2B), SCALE_2B)]
    return sincos_3d(DIM, positions=positions, dtype=torch.float64)  # (T*H*W, D)


# --- CogVideoX-2B: sincos ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SINCOS)
def test_2b_training_grid_is_bit_identical_and_the_default_base(two_b, name):
    expected = run(two_b, "1.0", BASE_2B)
    with use_strategy(two_b, name) as handle:
        assert handle.base_grid == BASE_2B and handle.model.encoding == "sincos"
        assert torch.equal(run(two_b, "1.0", BASE_2B), expected)
        assert handle.patch_table(BASE_2B) is None  # the module's own table runs
        assert handle.q_scale(BASE_2B) == 1.0


@pytest.mark.parametrize("grid", [(3, 17, 22), (2, 9, 31), (4, 15, 20), (1, 30, 30), (2, 7, 5)])
def test_2b_extrapolate_is_diffusers_at_every_grid(two_b, grid):
    """diffusers rebuilds the table at any grid with the same 1.875: the trained positions continued."""
    expected = run(two_b, "1.0", grid)
    with use_strategy(two_b, "extrapolate") as handle:
        assert torch.equal(run(two_b, "1.0", grid), expected)
        assert handle.patch_table(grid) is None


def test_2b_interpolate_at_twice_the_grid_is_diffusers_with_the_scale_doubled(two_b):
    """At 2× (h, w) the positions are arange/3.75 — what diffusers builds with spatial_interpolation_scale
    3.75, bit for bit; and index division from the 2×8×8 stage (scaled_sincos_3d)."""
    grid = (2, 30, 30)
    with use_strategy(two_b, "interpolate") as handle:
        given = run(two_b, "1.0", grid)
        table = handle.patch_table(grid, dtype=torch.float64)
    two_b.patch_embed.spatial_interpolation_scale = 3.75
    try:
        expected = run(two_b, "1.0", grid)
        own = two_b.patch_embed._get_positional_embeddings(60, 60, 5)  # diffusers' table at scale 3.75
    finally:
        two_b.patch_embed.spatial_interpolation_scale = 1.875
    assert torch.equal(given, expected) and torch.equal(table, own)
    torch.testing.assert_close(table[0, TEXT:], scaled_sincos_3d(DIM, grid, STAGE_2B, "interpolate", dtype=torch.float64),
                               rtol=0, atol=1e-6)  # float32 positions (diffusers') against float64 ones
    assert (given - run(two_b, "1.0", grid)).abs().max() > 1e-2  # not the unpatched model


@pytest.mark.parametrize("name", SINCOS)
@pytest.mark.parametrize("grid", [(3, 17, 22), (2, 9, 31), (4, 15, 20), (3, 30, 16), (1, 5, 7)])
def test_2b_equals_the_model_fed_sincos_3d_tables(two_b, name, grid):
    """At odd, non-square, longer and shorter grids the output is the unpatched model fed cogpe.sincos_3d
    on the strategy's positions / 1.875 — and, on grids no shorter than the trained one, interpolate's
    table is scaled_sincos_3d's from the 2×8×8 stage. Equal up to float32 positions (diffusers')."""
    table = literal_2b_table(grid, name)
    if name == "interpolate" and all(n >= n0 for n, n0 in zip(grid, BASE_2B)):
        torch.testing.assert_close(table, scaled_sincos_3d(DIM, grid, STAGE_2B, name, dtype=torch.float64),
                                   rtol=0, atol=1e-12)
    with use_strategy(two_b, name) as handle:
        given = run(two_b, "1.0", grid)
        own = handle.patch_table(grid, dtype=torch.float64)
    if own is not None:
        torch.testing.assert_close(own[0, TEXT:], table, rtol=0, atol=1e-6)
    with feeding_table(two_b, joint(table), grid):
        fed = run(two_b, "1.0", grid)
    torch.testing.assert_close(given, fed, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "strategy", [*[n for n in STRATEGIES if n not in SINCOS], Strategy("ntk"), {"rope_type": "yarn", "factor": 2.0}],
    ids=repr,
)
def test_2b_refuses_strategies_a_sincos_table_cannot_use(strategy):
    transformer = tiny_2b(layers=1)
    with pytest.raises(ValueError, match=r"cannot be used by CogVideoX-2B .*sincos table") as info:
        use_strategy(transformer, strategy)
    assert str(info.value).endswith("valid strategies: 'extrapolate', 'interpolate'")
    with use_strategy(transformer, "interpolate") as handle:  # nothing was left active
        with pytest.raises(ValueError, match=r"CogVideoX-2B has no RoPE tables.*patch_table"):
            handle.tables(BASE_2B)


def test_2b_remove_context_and_errors_restore_the_model(two_b):
    grid = (3, 17, 22)
    expected = run(two_b, "1.0", grid)
    handle = use_strategy(two_b, "interpolate")
    assert not torch.equal(run(two_b, "1.0", grid), expected)
    handle.remove()
    handle.remove()
    assert torch.equal(run(two_b, "1.0", grid), expected)
    with pytest.raises(RuntimeError):  # raised inside the patch embedding while its own table is switched off
        with use_strategy(two_b, "interpolate"):
            two_b(torch.zeros(1, 3, 5, 34, 44), torch.zeros(1, TEXT, 8), torch.tensor([1]))  # 5 channels, not 4
    embed = two_b.patch_embed
    assert embed.use_positional_embeddings is True and embed.use_learned_positional_embeddings is False
    assert not embed._forward_hooks and not embed._forward_pre_hooks
    assert torch.equal(run(two_b, "1.0", grid), expected)


def test_2b_pipeline_under_both_strategies():
    """diffusers' CogVideoXPipeline around the 2B layout, 2 steps at twice the trained size (9 frames →
    3 latent, 480×480 → 60×60 latent → 30×30 tokens): extrapolate is the pipeline, interpolate is not."""
    pipeline = tiny_pipeline(tiny_2b(layers=1))
    call = dict(num_frames=9, height=480, width=480)
    expected = generate(pipeline, **call)
    with use_strategy(pipeline, "extrapolate"):
        assert torch.equal(generate(pipeline, **call), expected)
    with use_strategy(pipeline, "interpolate"):
        with pytest.raises(ValueError, match=r"num_frames=10 cannot be taken by CogVideoX 1.0: frames must be 8N\+1"):
            generate(pipeline, num_frames=10, height=480, width=480)
        interpolated = generate(pipeline, **call)
    assert (interpolated - expected).abs().max() > 1e-3
    assert torch.equal(generate(pipeline, **call), expected)


# --- CogVideoX 1.0 5B-I2V: RoPE and a learned table -----------------------------------------------------


@pytest.fixture(scope="module")
def i2v():
    return tiny_transformer("1.0", learned=True)


def stored(model):
    return model.patch_embed.pos_embedding  # (1, text + 3*4*6, D)


def resampled(model, grid):
    """The learned table resampled to ``grid`` with cogpe.resample (text rows as stored): ``(1, text + N, D)``."""
    table = stored(model)
    video = resample_video_table(table[0, TEXT:], BASE, grid)
    return torch.cat([table[:, :TEXT], video[None]], dim=1)


@pytest.mark.parametrize("learned", [None, "resample", "drop", "keep"])
def test_i2v_training_grid_is_bit_identical(i2v, learned):
    """At the trained grid every option but drop leaves the model as it was, under every strategy."""
    rope = pipeline_tables(i2v, "1.0", BASE)
    expected = run(i2v, "1.0", BASE, rope)
    if learned == "drop":
        zeroed = copy.deepcopy(i2v)
        zeroed.patch_embed.pos_embedding.zero_()
        expected = run(zeroed, "1.0", BASE, rope)
    for name in ENCODINGS["rope"]:
        with use_strategy(i2v, name, learned_table=learned) as handle:
            assert handle.learned_table == (learned or "resample")
            assert torch.equal(run(i2v, "1.0", BASE, None), expected), name


@pytest.mark.parametrize("grid", [(3, 8, 12), (5, 4, 6), (4, 7, 9), (2, 3, 5)])
def test_i2v_resamples_its_learned_table_at_other_grids(i2v, grid):
    """Where diffusers raises (other H, W) or substitutes a sincos table (other T), the model runs with its
    learned table resampled by cogpe.resample: the unpatched model fed that table and the strategy's RoPE."""
    with use_strategy(i2v, "ntk") as handle:
        given = run(i2v, "1.0", grid, None)
        table, rope = handle.patch_table(grid, dtype=stored(i2v).dtype), handle.tables(grid)
    expected_table = resampled(i2v, grid)
    assert torch.equal(table, expected_table)
    with feeding_table(i2v, expected_table, grid):
        assert torch.equal(given, run(i2v, "1.0", grid, rope))
    if grid[1:] != BASE[1:]:
        with pytest.raises(ValueError, match="not possible to generate videos at a different resolution"):
            run(i2v, "1.0", grid, rope)  # diffusers, unpatched


@pytest.mark.parametrize("grid", [BASE, (3, 8, 12), (5, 4, 6)])
def test_i2v_drop_is_the_model_with_its_table_zeroed(i2v, grid):
    with use_strategy(i2v, "interpolate", learned_table="drop") as handle:
        given = run(i2v, "1.0", grid, None)
        rope = handle.tables(grid)
        assert torch.equal(handle.patch_table(grid), torch.zeros(1, TEXT + grid[0] * grid[1] * grid[2], DIM))
    with feeding_table(i2v, torch.zeros_like(resampled(i2v, grid)), grid):
        assert torch.equal(given, run(i2v, "1.0", grid, rope))


def test_i2v_keep_is_diffusers(i2v):
    """keep: no hook on the table — diffusers raises at another size, and at another frame count adds the
    sincos table it builds in place of the learned one."""
    grid = (5, 4, 6)
    with use_strategy(i2v, "ntk", learned_table="keep") as handle:
        assert handle.patch_table(grid) is None and not i2v.patch_embed._forward_hooks
        given = run(i2v, "1.0", grid, None)
        rope = handle.tables(grid)
        with pytest.raises(ValueError, match="not possible to generate videos at a different resolution"):
            run(i2v, "1.0", (3, 8, 12), None)
    assert torch.equal(given, run(i2v, "1.0", grid, rope))
    with use_strategy(i2v, "ntk"):  # resample: the learned table, not diffusers' sincos
        assert not torch.equal(run(i2v, "1.0", grid, None), given)


def test_i2v_sees_a_table_loaded_after_the_first_call():
    """The resampled table is cached per stored tensor and version: new weights are picked up."""
    model = tiny_transformer("1.0", learned=True, layers=1)
    grid = (3, 8, 12)
    with use_strategy(model, "extrapolate") as handle:
        before = handle.patch_table(grid, dtype=stored(model).dtype).clone()
        with torch.no_grad():
            model.patch_embed.pos_embedding.mul_(2)
        after = handle.patch_table(grid, dtype=stored(model).dtype)
        assert torch.equal(after, resampled(model, grid)) and not torch.equal(before, after)


@pytest.mark.parametrize(
    "model, value, error, message",
    [
        ("i2v", "bicubic", ValueError, r"unknown learned_table 'bicubic'; valid: 'resample', 'drop', 'keep'"),
        ("i2v", 1, TypeError, r"learned_table must be a string, one of 'resample', 'drop', 'keep'"),
        ("5b", "drop", ValueError, r"learned_table='drop' applies to a model with a learned position table .*has none"),
        ("2b", "resample", ValueError, r"learned_table='resample' applies .*has a sincos table"),
    ],
)
def test_bad_learned_table_options_are_refused(model, value, error, message):
    transformer = {"i2v": lambda: tiny_transformer("1.0", learned=True, layers=1),
                   "5b": lambda: tiny_transformer("1.0", layers=1), "2b": lambda: tiny_2b(layers=1)}[model]()
    with pytest.raises(error, match=message):
        use_strategy(transformer, "extrapolate", learned_table=value)
    with use_strategy(transformer, "extrapolate"):  # nothing was left active
        pass
