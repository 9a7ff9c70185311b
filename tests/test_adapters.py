"""cogpe.adapters.use_strategy on CogVideoX transformers: what a strategy changes, and that nothing else changes.

Tiny CogVideoX 1.0 and 1.5 transformers (tests/adapters_support.py), trained grid 3×4×6 tokens.
Oracles: the unpatched transformer fed diffusers' own tables (the pipeline's method,
``get_3d_rotary_pos_embed``), or tables computed independently with :mod:`cogpe.strategy`.
"""

from __future__ import annotations

import pytest
import torch

from adapters_support import (
    BASE,
    BASE_KW,
    HEAD_DIM,
    MODELS,
    SPLIT,
    TEXT,
    CogVideoXPipeline,
    apply_rotary_emb,
    generate,
    get_3d_rotary_pos_embed,
    one_thread,  # noqa: F401 (autouse fixture)
    pipeline_tables,
    run,
    tiny_pipeline,
    tiny_transformer,
)
from cogpe.adapters import use_strategy
from cogpe.rope import rope_3d
from cogpe.strategy import ENCODINGS, Strategy
from cogpe.strategy_tables import attention_scale, scaled_rope_3d

ROPE = ENCODINGS["rope"]


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    """``(version, transformer, base_grid keyword)``: 1.0 reads BASE from its config, 1.5 is given it."""
    return request.param, tiny_transformer(request.param), BASE_KW[request.param]


# --- 1. the training grid: every strategy is the identity, bit for bit (chapter 6, section 6.2) ----------


@pytest.mark.parametrize("name", ROPE)
def test_training_grid_is_bit_identical_for_every_strategy(model, name):
    version, transformer, kw = model
    tables = pipeline_tables(transformer, version, BASE)
    expected = run(transformer, version, BASE, tables)
    with use_strategy(transformer, name, **kw):
        given = run(transformer, version, BASE, tables)  # the pipeline's tables, replaced by the strategy's
        missing = run(transformer, version, BASE, None)  # no tables passed at all
    assert torch.equal(given, expected)
    assert torch.equal(missing, expected)


@pytest.mark.parametrize("grid", [BASE, (5, 4, 6)])
def test_5b_i2v_layout_with_its_learned_table_kept_changes_rope_only(grid):
    """CogVideoX-5B-I2V (1.0): a learned table on top of RoPE. With ``learned_table="keep"`` only the RoPE
    tables change — at the training grid nothing, at more frames the strategy's tables (the learned table
    is diffusers' affair; tests/test_adapters_patch.py covers resampling and dropping it)."""
    transformer = tiny_transformer("1.0", learned=True)
    for name in ROPE:
        with use_strategy(transformer, name, learned_table="keep") as handle:
            given = run(transformer, "1.0", grid, None)
            tables, q_scale = handle.tables(grid), handle.q_scale(grid)
        if q_scale == 1.0:
            assert torch.equal(given, run(transformer, "1.0", grid, tables)), name
        else:  # YaRN at more frames: its temperature too (section 3 below)
            torch.testing.assert_close(given, run(_scaled_norm_q(transformer, q_scale), "1.0", grid, tables))
        if grid == BASE:
            assert torch.equal(given, run(transformer, "1.0", grid, pipeline_tables(transformer, "1.0", grid))), name


def test_tables_matter_in_the_tiny_model(model):
    """The guarantees below are not vacuous: other tables visibly change the output."""
    version, transformer, kw = model
    grid = (BASE[0], 2 * BASE[1], 2 * BASE[2])
    with_tables = run(transformer, version, grid, pipeline_tables(transformer, version, grid))
    assert (with_tables - run(transformer, version, grid, None)).abs().max() > 1e-2


NOT_CROP = [name for name in ROPE if not name.startswith("linspace-crop")]


@pytest.mark.parametrize("grid", [(3, 4, 6), (3, 20, 9), (2, 13, 20)])
def test_1_5_default_base_grid_keeps_the_pipeline_inside_its_table(grid):
    """CogVideoX 1.5's default base grid is its config's: sample frames, and the slice table for H, W
    (here 3×20×20). Inside it every strategy but the crops gives the pipeline's integer positions,
    bit for bit."""
    transformer = tiny_transformer("1.5")
    expected = run(transformer, "1.5", grid, pipeline_tables(transformer, "1.5", grid))
    for name in NOT_CROP:
        with use_strategy(transformer, name) as handle:
            assert handle.base_grid == (3, 20, 20)
            assert torch.equal(run(transformer, "1.5", grid, None), expected), name


# --- 2. larger grids: the strategy's positions and frequencies, computed independently --------------------


def test_interpolate_at_twice_the_grid_is_diffusers_linspace_at_i_over_2(model):
    """``interpolate`` at 2× (h, w): positions i/2 — diffusers' linspace over the base box, bit for bit."""
    version, transformer, kw = model
    grid = (BASE[0], 2 * BASE[1], 2 * BASE[2])
    tables = get_3d_rotary_pos_embed(HEAD_DIM, ((0, 0), BASE[1:]), grid[1:], grid[0])
    half = [torch.arange(n, dtype=torch.float32) / s for n, s in zip(grid, (1, 2, 2))]
    assert all(torch.equal(a, b) for a, b in zip(tables, rope_3d(HEAD_DIM, positions=half, freqs_dtype=torch.float32)))
    with use_strategy(transformer, "interpolate", **kw):
        given = run(transformer, version, grid, pipeline_tables(transformer, version, grid))
    assert torch.equal(given, run(transformer, version, grid, tables))


@pytest.mark.parametrize("grid", [(5, 7, 9), (2, 9, 5), (3, 4, 13), (4, 3, 6)])
def test_extrapolate_is_integer_positions(model, grid):
    """``extrapolate`` = diffusers' ``grid_type="slice"`` (integer positions: SAT, the official LoRA
    trainers — CogVideo #663 — and the CogVideoX 1.5 pipeline), odd and non-square grids included."""
    version, transformer, kw = model
    tables = get_3d_rotary_pos_embed(HEAD_DIM, None, grid[1:], grid[0], grid_type="slice", max_size=grid[1:])
    with use_strategy(transformer, "extrapolate", **kw):
        given = run(transformer, version, grid, None)
    assert torch.equal(given, run(transformer, version, grid, tables))
    if version == "1.5":
        assert torch.equal(given, run(transformer, version, grid, pipeline_tables(transformer, version, grid)))


@pytest.mark.parametrize("grid", [(5, 7, 9), (2, 9, 5), (3, 6, 6), (3, 8, 12), (4, 3, 6)])
def test_linspace_crop_diffusers_is_the_1_0_pipeline_at_every_grid(grid):
    transformer = tiny_transformer("1.0")
    expected = run(transformer, "1.0", grid, pipeline_tables(transformer, "1.0", grid))
    with use_strategy(transformer, "linspace-crop-diffusers"):
        assert torch.equal(run(transformer, "1.0", grid, None), expected)


SCALED = ["interpolate", "ntk", "riflex", Strategy("yarn", attention_factor=1.0), Strategy("riflex", riflex_k=0)]


@pytest.mark.parametrize("strategy", SCALED, ids=repr)
@pytest.mark.parametrize("grid", [(5, 7, 9), (6, 8, 12), (2, 9, 5), (3, 4, 13)])
def test_scaled_strategies_equal_the_transformer_fed_scaled_rope_3d(model, strategy, grid):
    """At odd and non-square grids the output is the unpatched transformer's fed cogpe.scaled_rope_3d
    tables (float64 angles): equal up to the float32 rounding of axes kept in diffusers' arithmetic."""
    version, transformer, kw = model
    cos, sin = scaled_rope_3d(HEAD_DIM, grid, BASE, strategy)
    with use_strategy(transformer, strategy, **kw) as handle:
        given = run(transformer, version, grid, None)
        own = handle.tables(grid)
    torch.testing.assert_close(own, (cos, sin), rtol=0, atol=2e-6)
    torch.testing.assert_close(given, run(transformer, version, grid, (cos, sin)), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(given, run(transformer, version, grid, pipeline_tables(transformer, version, grid)), atol=1e-4)


def test_axes_with_new_frequencies_are_scaled_rope_3d_bit_for_bit(model):
    """Where every axis gets NTK frequencies (all scales > 1) the tables are scaled_rope_3d's exactly."""
    version, transformer, kw = model
    grid = (5, 7, 9)
    with use_strategy(transformer, "ntk", **kw) as handle:
        given = run(transformer, version, grid, None)
        assert all(torch.equal(a, b) for a, b in zip(handle.tables(grid), scaled_rope_3d(HEAD_DIM, grid, BASE, "ntk")))
    assert torch.equal(given, run(transformer, version, grid, scaled_rope_3d(HEAD_DIM, grid, BASE, "ntk")))


def test_options_dicts_and_strategy_objects_are_one_strategy(model):
    version, transformer, kw = model
    grid = (3, 8, 12)
    outputs = []
    for strategy, options in [("yarn", {"factor": 2.0}), ({"rope_type": "yarn", "factor": 2.0}, {}),
                              (Strategy("yarn", factor=(2.0, 2.0, 2.0)), {})]:
        with use_strategy(transformer, strategy, **options, **kw):
            outputs.append(run(transformer, version, grid, None))
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])


def test_base_grid_moves_the_training_grid(model):
    """With ``base_grid`` = the run's grid every strategy is the identity again (here: integer positions)."""
    version, transformer, kw = model
    grid = (5, 7, 9)
    with use_strategy(transformer, "yarn", base_grid=grid):
        given = run(transformer, version, grid, None)
    with use_strategy(transformer, "extrapolate", **kw):
        assert torch.equal(given, run(transformer, version, grid, None))


# --- 3. YaRN's temperature on every logit (peng2024yarn; chapter 3, section 3.7) --------------------------


def _scaled_norm_q(transformer, factor):
    """A copy of ``transformer`` whose qk-norm of q outputs ``factor`` times as much (weights and biases)."""
    import copy

    scaled = copy.deepcopy(transformer)
    with torch.no_grad():
        for block in scaled.transformer_blocks:
            block.attn1.norm_q.weight.mul_(factor)
            block.attn1.norm_q.bias.mul_(factor)
    return scaled


@pytest.mark.parametrize("grid", [(3, 8, 12), (5, 7, 9)])
def test_yarn_is_untempered_tables_and_q_times_m_squared(model, grid):
    version, transformer, kw = model
    m = attention_scale("yarn", grid, BASE)
    assert m > 1.05
    plain = Strategy("yarn", attention_factor=1.0).rope_tables(grid, BASE, SPLIT)  # no temperature
    expected = run(_scaled_norm_q(transformer, m * m), version, grid, plain)
    with use_strategy(transformer, "yarn", **kw):
        given = run(transformer, version, grid, None)
    torch.testing.assert_close(given, expected, rtol=1e-5, atol=1e-5)
    tempered = run(transformer, version, grid, scaled_rope_3d(HEAD_DIM, grid, BASE, "yarn"))  # cos, sin × m
    assert (given - tempered).abs().max() > 1e-3


def test_scaling_cos_and_sin_gives_video_text_logits_m_not_m_squared():
    """Text tokens are not rotated: tables × m give video↔video logits m², video↔text m, text↔text 1;
    q × m² gives every logit m² (diffusers' apply_rotary_emb on q and k as CogVideoX's processor does)."""
    grid, m = (3, 8, 12), 1.25
    n = grid[0] * grid[1] * grid[2]
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 1, 1, TEXT + n, HEAD_DIM, generator=g, dtype=torch.float64)
    cos, sin = (t.double() for t in Strategy("yarn", attention_factor=1.0).rope_tables(grid, BASE, SPLIT, dtype=torch.float64))

    def logits(q, k, tables):
        q, k = q.clone(), k.clone()
        q[:, :, TEXT:] = apply_rotary_emb(q[:, :, TEXT:], tables)  # video tokens only
        k[:, :, TEXT:] = apply_rotary_emb(k[:, :, TEXT:], tables)
        return (q @ k.transpose(-1, -2))[0, 0]  # (TEXT + N, TEXT + N)

    plain = logits(q, k, (cos, sin))
    on_tables = logits(q, k, (m * cos, m * sin))
    on_q = logits(m * m * q, k, (cos, sin))
    close = dict(rtol=1e-5, atol=1e-5)  # apply_rotary_emb rotates in float32
    video, text = slice(TEXT, None), slice(None, TEXT)  # rows: queries, columns: keys
    torch.testing.assert_close(on_tables[video, video], m * m * plain[video, video], **close)
    torch.testing.assert_close(on_tables[video, text], m * plain[video, text], **close)
    torch.testing.assert_close(on_tables[text, video], m * plain[text, video], **close)
    torch.testing.assert_close(on_tables[text, text], plain[text, text], **close)
    torch.testing.assert_close(on_q, m * m * plain, **close)
    assert not torch.allclose(on_tables[video, text], on_q[video, text], **close)


@pytest.mark.parametrize("strategy, grid, touched", [("ntk", (5, 7, 9), False), ("yarn", BASE, False),
                                                     ("yarn", (3, 8, 12), True)])
def test_q_is_left_alone_where_the_factor_is_one(strategy, grid, touched):
    transformer = tiny_transformer("1.0", layers=1)
    norm_q = transformer.transformer_blocks[0].attn1.norm_q
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # q as a tensor, and its values (RoPE then works in place)
    norm_q.register_forward_hook(lambda mod, args, out: seen.__setitem__("before", (out, out.clone())), prepend=True)
    with use_strategy(transformer, strategy) as handle:
        norm_q.register_forward_hook(lambda mod, args, out: seen.__setitem__("after", (out, out.clone())))
        run(transformer, "1.0", grid, None)
    assert (seen["after"][0] is not seen["before"][0]) == touched
    assert (handle.q_scale(grid) != 1.0) == touched
    assert torch.equal(seen["after"][1], seen["before"][1] * handle.q_scale(grid))


# --- 4. removal restores the model bit for bit; one strategy at a time ------------------------------------


def test_remove_context_exit_and_exceptions_restore_bit_identical_outputs(model):
    version, transformer, kw = model
    grid = (5, 7, 9)
    tables = pipeline_tables(transformer, version, grid)
    expected = run(transformer, version, grid, tables)
    handle = use_strategy(transformer, "yarn", **kw)
    assert not torch.equal(run(transformer, version, grid, tables), expected)
    handle.remove()
    handle.remove()  # twice: nothing happens
    assert not handle.active and torch.equal(run(transformer, version, grid, tables), expected)
    with use_strategy(transformer, "riflex", **kw):
        pass
    assert torch.equal(run(transformer, version, grid, tables), expected)
    with pytest.raises(KeyError, match="inside"):
        with use_strategy(transformer, "ntk", **kw):
            raise KeyError("inside")
    assert torch.equal(run(transformer, version, grid, tables), expected)
    with pytest.raises(ValueError, match="not a multiple of patch_size"):  # an error raised by the hook itself
        with use_strategy(transformer, "ntk", **kw):
            transformer(torch.zeros(1, 2, 4, 5, 6), torch.zeros(1, TEXT, 8), torch.tensor([1]))
    assert torch.equal(run(transformer, version, grid, tables), expected)


def test_a_second_strategy_is_refused_naming_the_active_one(model):
    version, transformer, kw = model
    pipeline = tiny_pipeline(transformer)
    with use_strategy(transformer, "yarn", yarn_beta=8.0, **kw):
        for target in (transformer, pipeline):
            with pytest.raises(RuntimeError, match=r"already runs Strategy\('yarn', yarn_beta=8.0\).*remove"):
                use_strategy(target, "ntk", **kw)
    with use_strategy(pipeline, "ntk", **kw):  # free again
        pass


def test_pipeline_form_sets_the_tables_and_restores_the_pipeline():
    transformer = tiny_transformer("1.5")
    pipeline = tiny_pipeline(transformer)
    call = dict(num_frames=33, height=128, width=160)  # 33 frames → 9 → 10 latent → 5 tokens
    expected = generate(pipeline, **call)
    with use_strategy(transformer, "ntk", base_grid=BASE):
        direct = generate(pipeline, **call)
    with use_strategy(pipeline, "ntk", base_grid=BASE) as handle:
        assert type(pipeline).__name__ == "CogVideoXPipeline" and isinstance(pipeline, CogVideoXPipeline)
        assert torch.equal(generate(pipeline, **call), direct)
        assert handle.pipeline is pipeline
    assert type(pipeline) is CogVideoXPipeline
    assert not torch.equal(direct, expected)
    assert torch.equal(generate(pipeline, **call), expected)


def test_an_unkept_handle_stays_active_and_nothing_keeps_the_model_alive():
    import gc
    import weakref

    transformer = tiny_transformer("1.0", layers=1)
    use_strategy(transformer, "ntk")  # the handle is not kept: its hooks keep it
    with pytest.raises(RuntimeError, match=r"already runs Strategy\('ntk'\)"):
        use_strategy(transformer, "yarn")
    pipeline = tiny_pipeline(tiny_transformer("1.5", layers=1))
    use_strategy(pipeline, "ntk", base_grid=BASE)
    alive = [weakref.ref(transformer), weakref.ref(pipeline)]
    del transformer, pipeline
    gc.collect()
    assert [ref() for ref in alive] == [None, None]
