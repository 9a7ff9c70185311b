"""cogpe.adapters.use_strategy on Wan 2.x and HunyuanVideo transformers, which build their tables themselves.

Tiny ``WanTransformer3DModel`` (head 20: split 8/6/6, θ 10000, float64 tables) and
``HunyuanVideoTransformer3DModel`` (head 16: ``rope_axes_dim`` 4/4/8, θ 256, float32 tables), scaled from
``base_grid`` 3×4×6 tokens (tests/adapters_wan_hunyuan_support.py). Oracles: the unpatched model (its
own ``rope`` module), or the unpatched model fed tables built independently with
:func:`cogpe.strategy_tables.scaled_rope_3d` (``feeding``).
"""

from __future__ import annotations

import pytest
import torch

from adapters_support import one_thread  # noqa: F401 (autouse fixture)
from adapters_wan_hunyuan_support import (
    BASE,
    diffusers,
    FAMILIES,
    HEAD_DIM,
    SPLIT,
    THETA,
    feeding,
    own_tables,
    query_scaled,
    run,
    tiny,
)
from cogpe.adapters import BASE_GRIDS, use_strategy
from cogpe.adapters.presets import base_grid_for
from cogpe.cogvideox import token_grid
from cogpe.strategy import ENCODINGS, Strategy
from cogpe.strategy_tables import attention_scale, scaled_rope_3d

ROPE = ENCODINGS["rope"]


@pytest.fixture(scope="module", params=FAMILIES)
def model(request):
    """``(family, transformer)``."""
    return request.param, tiny(request.param)


def scaled(family, grid, strategy):
    """``scaled_rope_3d`` tables ``(N, D)`` for ``family``'s split and θ (float64 angles, float32 tables)."""
    return scaled_rope_3d(HEAD_DIM[family], grid, BASE, strategy, THETA[family], split=SPLIT[family])


# --- 1. what is read from the config -----------------------------------------------------------------------


def test_split_theta_and_arithmetic_come_from_the_model(model):
    """The handle's tables at the base grid are the model's own, bit for bit: Wan's float64 angles of
    t/h/w = d − 4⌊d/6⌋ / 2⌊d/6⌋ / 2⌊d/6⌋ at θ 10000; HunyuanVideo's float32 ones of rope_axes_dim at θ 256."""
    family, transformer = model
    with use_strategy(transformer, "extrapolate", base_grid=BASE) as handle:
        assert handle.model.split == SPLIT[family] and handle.model.theta == THETA[family]
        for grid in (BASE, (5, 7, 9), (2, 9, 5)):
            mine, own = handle.tables(grid), own_tables(transformer, grid)
            assert all(torch.equal(a, b) for a, b in zip(mine, own)), grid
    assert handle.model.kept_dtype == (torch.float64 if family == "wan" else torch.float32)


def test_tables_matter_in_the_tiny_models(model):
    """The guarantees below are not vacuous: other tables visibly change the output."""
    family, transformer = model
    grid = (3, 8, 12)
    with feeding(transformer, scaled(family, grid, "interpolate")):
        other = run(transformer, grid)
    assert (other - run(transformer, grid)).abs().max() > 1e-2


# --- 2. the training grid: every strategy is the identity, bit for bit -------------------------------------


@pytest.mark.parametrize("name", ROPE)
def test_training_grid_is_bit_identical_for_every_strategy(model, name):
    family, transformer = model
    expected = run(transformer, BASE)
    with use_strategy(transformer, name, base_grid=BASE):
        assert torch.equal(run(transformer, BASE), expected)


@pytest.mark.parametrize("grid", [(5, 7, 9), (2, 9, 5), (3, 4, 13), (7, 3, 6)])
def test_extrapolate_is_the_model_itself_at_every_grid(model, grid):
    """Wan and HunyuanVideo use integer positions at every size: ``extrapolate`` is the unpatched model."""
    family, transformer = model
    expected = run(transformer, grid)
    with use_strategy(transformer, "extrapolate", base_grid=BASE):
        assert torch.equal(run(transformer, grid), expected)


# --- 3. larger grids: the strategy's positions and frequencies, computed independently ----------------------

SCALED = ["interpolate", "ntk", "riflex", "linspace-crop-diffusers", Strategy("yarn", attention_factor=1.0),
          Strategy("riflex", riflex_k=0),
          Strategy("scale-shift", position_scale=(1.0, 0.5, 0.75), position_shift=(0.0, 2.0, -1.5))]


@pytest.mark.parametrize("strategy", SCALED, ids=repr)
@pytest.mark.parametrize("grid", [(5, 7, 9), (6, 8, 12), (2, 9, 5), (3, 4, 13)])
def test_scaled_strategies_equal_the_model_fed_scaled_rope_3d(model, strategy, grid):
    """At odd and non-square grids the output is the unpatched model's with its rope module's output
    replaced by scaled_rope_3d tables: bit for bit for Wan (float64 throughout, as Wan computes), up to
    the float32 rounding of kept axes for HunyuanVideo."""
    family, transformer = model
    tables = scaled(family, grid, strategy)
    with feeding(transformer, tables):
        expected = run(transformer, grid)
    with use_strategy(transformer, strategy, base_grid=BASE) as handle:
        given = run(transformer, grid)
        mine = handle.tables(grid)
    if family == "wan":
        assert all(torch.equal(a, b) for a, b in zip(mine, tables))
        assert torch.equal(given, expected)
    else:
        torch.testing.assert_close(mine, tables, rtol=0, atol=2e-6)
        torch.testing.assert_close(given, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(given, run(transformer, grid), atol=1e-4)


# --- 4. YaRN's temperature on every logit ------------------------------------------------------------------


@pytest.mark.parametrize("grid", [(3, 8, 12), (5, 7, 9)])
def test_yarn_is_untempered_tables_and_q_times_m_squared(model, grid):
    """YaRN = untempered tables + every query (HunyuanVideo: video and text streams) × m² after qk-norm.
    In Wan's self-attention every token is rotated, so tables × m give the same logits; in HunyuanVideo's
    joint attention they would miss the text tokens and differ."""
    family, transformer = model
    m = attention_scale("yarn", grid, BASE)
    assert m > 1.05
    plain = scaled(family, grid, Strategy("yarn", attention_factor=1.0))
    with use_strategy(transformer, "yarn", base_grid=BASE):
        given = run(transformer, grid)
    reference = query_scaled(transformer, m * m)
    with feeding(reference, plain):
        expected = run(reference, grid)
    torch.testing.assert_close(given, expected, rtol=1e-5, atol=1e-5)
    with feeding(transformer, scaled(family, grid, "yarn")):  # cos and sin × m
        tempered = run(transformer, grid)
    if family == "wan":
        torch.testing.assert_close(given, tempered, rtol=1e-4, atol=1e-5)
    else:
        assert (given - tempered).abs().max() > 1e-4  # 10× the tolerance above: 3 text tokens among ~300


@pytest.mark.parametrize("grid, touched", [(BASE, False), ((3, 8, 12), True)])
def test_every_query_and_only_the_queries_are_scaled(model, grid, touched):
    """YaRN's hooks sit on every RoPE attention's query norms — Wan: attn1.norm_q; HunyuanVideo: norm_q
    and the text stream's norm_added_q of dual-stream blocks, norm_q of single-stream ones, not the text
    refiner's — and return q untouched (the same tensor) where m² = 1."""
    family, transformer = model
    names = [n for n, _ in transformer.named_modules() if n.endswith(("norm_q", "norm_added_q"))]
    rotary = [n for n in names if "context_embedder" not in n and "attn2" not in n]
    seen: dict[str, dict[str, torch.Tensor]] = {"before": {}, "after": {}}

    def recorder(when, name):
        return lambda module, args, out: seen[when].__setitem__(name, out.clone() if when == "before" else out)

    modules = dict(transformer.named_modules())
    hooks = [modules[n].register_forward_hook(recorder("before", n), prepend=True) for n in names]
    try:
        with use_strategy(transformer, "yarn", base_grid=BASE) as handle:
            hooks += [modules[n].register_forward_hook(recorder("after", n)) for n in names]
            run(transformer, grid)
    finally:
        for hook in hooks:
            hook.remove()
    m2 = handle.q_scale(grid)
    assert (m2 > 1.1) == touched
    assert len(rotary) == (2 if family == "wan" else 3)  # 2 blocks; 1 dual-stream (2 streams) + 1 single-stream
    for n in names:
        factor = m2 if n in rotary else 1.0
        torch.testing.assert_close(seen["after"][n], seen["before"][n] * factor, rtol=0, atol=0)


# --- 5. removal restores the model bit for bit; one strategy at a time ------------------------------------


def test_remove_context_exit_and_exceptions_restore_bit_identical_outputs(model):
    family, transformer = model
    grid = (5, 7, 9)
    expected = run(transformer, grid)
    handle = use_strategy(transformer, "yarn", base_grid=BASE)
    assert not torch.equal(run(transformer, grid), expected)
    handle.remove()
    handle.remove()
    assert not handle.active and torch.equal(run(transformer, grid), expected)
    with use_strategy(transformer, "riflex", base_grid=BASE):
        pass
    assert torch.equal(run(transformer, grid), expected)
    with pytest.raises(KeyError, match="inside"):
        with use_strategy(transformer, "ntk", base_grid=BASE):
            raise KeyError("inside")
    assert torch.equal(run(transformer, grid), expected)
    with pytest.raises(ValueError, match="not a multiple of patch_size"):  # raised by the adapter's own hook
        with use_strategy(transformer, "ntk", base_grid=BASE):
            transformer.rope(torch.zeros(1, 4, 3, 7, 12))  # latent height 7, patch 2
    assert torch.equal(run(transformer, grid), expected)
    with use_strategy(transformer, "ntk", base_grid=BASE):
        with pytest.raises(RuntimeError, match=r"already runs Strategy\('ntk'\)"):
            use_strategy(transformer, "yarn")


def test_hunyuan_image_to_video_token_replace_blocks_are_adapted_alike():
    """HunyuanVideo-I2V (``image_condition_type="token_replace"``) has its own block classes with the same
    attention: identity at the base grid for every strategy, the model itself under extrapolate."""
    torch.manual_seed(0)
    transformer = diffusers.HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=16, num_layers=1, num_single_layers=1,
        num_refiner_layers=1, text_embed_dim=8, pooled_projection_dim=8, rope_axes_dim=SPLIT["hunyuan"],
        image_condition_type="token_replace",
    ).eval()
    grid = (5, 8, 12)
    expected, larger = run(transformer, BASE), run(transformer, grid)
    for name in ROPE:
        with use_strategy(transformer, name, base_grid=BASE):
            assert torch.equal(run(transformer, BASE), expected), name
            if name == "extrapolate":
                assert torch.equal(run(transformer, grid), larger)
    with use_strategy(transformer, "yarn", base_grid=BASE):
        assert not torch.equal(run(transformer, grid), larger)


# --- 6. base grids: named presets, and what Wan's tables reach ---------------------------------------------


def test_presets_state_their_token_arithmetic():
    """(frames − 1)//4 + 1 latent frames, pixels / VAE scale / patch (module docstring of presets)."""
    wan480, wan720 = [(21, 30, 52), (21, 52, 30)], [(21, 45, 80), (21, 80, 45)]
    hy540 = [(33, 34, 60), (33, 39, 52), (33, 45, 45), (33, 60, 34), (33, 52, 39)]
    hy720 = [(33, 45, 80), (33, 52, 69), (33, 60, 60), (33, 80, 45), (33, 69, 52)]
    assert {name: list(preset.grids) for name, preset in BASE_GRIDS.items()} == {
        "cogvideox-5b": [(13, 30, 45)], "cogvideox-5b-i2v": [(13, 30, 45)], "cogvideox1.5-5b": [(11, 48, 85)],
        "cogvideox1.5-5b-i2v": [(11, 48, 85), (11, 85, 48)],
        "wan-480p": wan480, "wan-720p": wan720, "wan-14b": wan720 + wan480,
        "wan2.2-5b-720p": [(31, 22, 40), (31, 40, 22)],
        "hunyuanvideo-540p": hy540, "hunyuanvideo-720p": hy720, "hunyuanvideo": hy720 + hy540,
        "skyreels-v2-540p": [(25, 34, 60), (25, 60, 34)], "skyreels-v2-720p": [(31, 45, 80), (31, 80, 45)],
        "mochi": [(28, 30, 53)], "ltx-video": [(16, 16, 24), (16, 22, 38)], "cosmos-1.0": [(16, 44, 80)],
        "cosmos-2": [(24, 44, 80)],
    }
    for name in ("cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b"):
        assert BASE_GRIDS[name].grids == (token_grid(name),)


def test_wan_sizes_are_read_width_by_height():
    """Wan's SUPPORTED_SIZES strings are width*height: '480*832' is 480 wide and 832 high (portrait)."""
    def wan(*sizes):  # Wan's strings -> (height, width)
        return {(int(s.split("*")[1]), int(s.split("*")[0])) for s in sizes}

    assert set(BASE_GRIDS["wan-480p"].sizes) == wan("480*832", "832*480")  # t2v-1.3B
    assert set(BASE_GRIDS["wan-14b"].sizes) == wan("720*1280", "1280*720", "480*832", "832*480")  # t2v-14B, A14B
    assert set(BASE_GRIDS["wan2.2-5b-720p"].sizes) == wan("704*1280", "1280*704")  # ti2v-5B
    assert (832, 480) in BASE_GRIDS["wan-480p"].sizes and (480, 832) in BASE_GRIDS["wan-480p"].sizes


def wide_wan(**kw):
    """A 1-layer Wan transformer of Wan 2.1 T2V-1.3B's width: 12 heads × 128 channels (small FFN and text)."""
    torch.manual_seed(0)
    return diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=4, out_channels=4,
        text_dim=8, freq_dim=8, ffn_dim=16, num_layers=1, **kw,
    ).eval()


@pytest.mark.parametrize(
    "make, preset",
    [
        (lambda: tiny("wan", layers=1), "wan-14b"),
        (wide_wan, "wan-480p"),  # the 1.3B, told by its width
        (lambda: tiny("wan", layers=1, in_channels=48), "wan2.2-5b-720p"),  # the 16× VAE's latents
        (lambda: tiny("hunyuan"), "hunyuanvideo"),
    ],
    ids=["wan-14b", "wan-1.3b", "wan2.2-5b", "hunyuan"],
)
def test_every_trained_size_in_both_orientations_runs_unrescaled_by_default(make, preset):
    """Each trained grid is its own base: under every strategy the model gets its own tables (bit for bit)
    and q is not scaled, in portrait as in landscape."""
    transformer = make()
    grids = BASE_GRIDS[preset].grids
    own = {grid: own_tables(transformer, grid) for grid in grids}
    for name in ROPE:
        with use_strategy(transformer, name) as handle:
            assert handle.model.preset == preset and handle.base_grids == grids
            for grid in grids:
                assert handle.base_grid_at(grid) == grid
                cos, sin = handle.tables(grid)
                assert torch.equal(cos, own[grid][0]) and torch.equal(sin, own[grid][1]), (name, grid)
                assert handle.q_scale(grid) == 1.0


def test_a_larger_video_scales_from_the_trained_size_of_its_orientation():
    """Wan 14B at 1.25× its 720p size in each orientation: scaled from the 720p grid of that orientation, as
    the strategy's tables with that one base grid; a size inside a trained one is not rescaled at all."""
    wan = tiny("wan", layers=1)
    with use_strategy(wan, "yarn") as handle:
        for grid, base in [((21, 56, 100), (21, 45, 80)), ((21, 100, 56), (21, 80, 45))]:
            assert handle.base_grid_at(grid) == base
            # the frequencies of YaRN from that base; its temperature goes on q, not on cos and sin
            expected = scaled_rope_3d(HEAD_DIM["wan"], grid, base, "yarn", split=SPLIT["wan"], dtype=torch.float64,
                                      attention_factor=1.0)
            cos, sin = handle.tables(grid)
            assert torch.allclose(cos, expected[0].float(), atol=1e-6) and torch.allclose(sin, expected[1].float(), atol=1e-6)
            assert handle.q_scale(grid) == pytest.approx(attention_scale("yarn", grid, base) ** 2)
            assert handle.q_scale(grid) > 1.0
        inside = (21, 40, 70)  # 640 × 1120: inside 720p landscape, though its aspect is nearer 480p's
        assert handle.base_grid_at(inside) == (21, 45, 80) and handle.q_scale(inside) == 1.0
        with pytest.raises(ValueError, match=r"scales each call from one of 4 trained grids .*base_grid_at"):
            handle.base_grid


def test_base_grid_for_orders_by_least_rescaling():
    wan = BASE_GRIDS["wan-14b"].grids
    assert base_grid_for((41, 40, 70), wan) == (21, 45, 80)  # twice the frames: time ties, space decides
    assert base_grid_for((21, 60, 60), wan) == (21, 45, 80)  # a square: both orientations tie, the first listed
    assert base_grid_for((21, 30, 52), BASE_GRIDS["hunyuanvideo"].grids) == (33, 34, 60)  # nearest aspect holding it
    assert base_grid_for((33, 78, 104), BASE_GRIDS["hunyuanvideo"].grids) == (33, 52, 69)  # 1.5 × 832 × 1104
    with pytest.raises(ValueError, match="no trained grids"):
        base_grid_for((1, 2, 3), ())


def test_named_presets_and_their_family():
    wan = tiny("wan", layers=1)
    with use_strategy(wan, "riflex", base_grid="wan-480p") as handle:
        assert handle.base_grids == ((21, 30, 52), (21, 52, 30))
    with use_strategy(wan, "riflex", base_grid=(21, 30, 52)) as handle:
        assert handle.base_grid == handle.base_grid_at((21, 90, 10)) == (21, 30, 52)
    with pytest.raises(ValueError, match=r"base_grid='hunyuanvideo-720p' is a HunyuanVideo preset, but the model is "
                                         r"Wan; Wan presets: 'wan-480p', 'wan-720p', 'wan-14b', 'wan2.2-5b-720p', 'skyreels-v2-540p', "
                                         r"'skyreels-v2-720p', or pass"):
        use_strategy(wan, "riflex", base_grid="hunyuanvideo-720p")
    with pytest.raises(ValueError, match=r"base_grid='hunyuan-720p' is not a preset; HunyuanVideo presets: "
                                         r"'hunyuanvideo-540p', 'hunyuanvideo-720p', 'hunyuanvideo'"):
        use_strategy(tiny("hunyuan"), "riflex", base_grid="hunyuan-720p")


def test_wan_grids_beyond_rope_max_seq_len_are_refused_with_the_limit():
    """Wan's tables hold rope_max_seq_len positions per axis: a base grid beyond them is not one the model
    ran at (refused at use_strategy; the default preset too), and a run beyond them — which the unpatched
    model fails on with a reshape error — is refused by the hook, naming the limit."""
    wan = tiny("wan", layers=1, rope_max_seq_len=16)
    message = r"has 20 tokens along W, more than Wan's rotary tables reach \(rope_max_seq_len=16"
    with pytest.raises(ValueError, match=r"base_grid \(3, 4, 20\) " + message):
        use_strategy(wan, "ntk", base_grid=(3, 4, 20))
    with pytest.raises(ValueError, match=r"base_grid \(21, 45, 80\) has 80 tokens along W"):
        use_strategy(wan, "ntk")  # the default preset, wan-14b
    with pytest.raises(RuntimeError):
        run(wan, (3, 4, 20))
    with use_strategy(wan, "ntk", base_grid=BASE):
        with pytest.raises(ValueError, match=r"grid \(3, 4, 20\) " + message):
            run(wan, (3, 4, 20))
        run(wan, (3, 4, 16))  # the longest axis the tables reach


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 4, 3, 8, 5), r"hidden_states \(B, C, F, H, W\) = \(1, 4, 3, 8, 5\): latent width W=5 is not a multiple of patch_size=2"),
        ((1, 4, 3, 7, 12), r"latent height H=7 is not a multiple of patch_size=2"),
        ((4, 3, 8, 12), r"hidden_states must be latents \(B, C, F, H, W\), got shape \(4, 3, 8, 12\)"),
    ],
)
def test_latents_the_patch_does_not_divide_are_refused_by_the_hook(family, shape, message):
    """Unpatched, the patch embedding silently drops the last row or column; under a strategy it is refused."""
    transformer = tiny(family, layers=1)
    with use_strategy(transformer, "ntk", base_grid=BASE):
        with pytest.raises(ValueError, match=message):
            transformer.rope(torch.zeros(shape))
