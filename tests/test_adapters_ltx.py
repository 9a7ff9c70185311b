"""cogpe.adapters.use_strategy on LTX-Video: positions as fractions of base sizes, frequencies rising from π/2.

Models: diffusers' ``LTXVideoTransformer3DModel`` from a tiny config (2 heads of 14: a rotary width of 28,
4 pairs per axis after 4 padding channels) and, one layer deep, from the released 2B config (32 heads of
64: width 2048, 341 pairs per axis after 2 padding channels; 128 latent channels, caption 4096); random
weights, nothing downloaded. Oracles: the unpatched model (its own ``rope``), and tables computed here in
numpy float64 from the published formula — ``F_j = θ^(j/(K−1))·π/2``, ``c = r·p/base``, radians per token
``ω_j = 2·c·F_j``, PI, NTK (highest kept, lowest over s), YaRN's ramp and both RIFLEx rules counted in
tokens, angle ``(ω'_j/2c)·(2·c·g(m) − 1)`` — never through ``cogpe``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from adapters_support import one_thread, per_token_axis  # noqa: F401 (one_thread: autouse fixture)
from cogpe.adapters import BASE_GRIDS, SUPPORTED_TRANSFORMERS, use_strategy
from cogpe.strategy import ENCODINGS, PER_TOKEN

pytest.importorskip("transformers")  # diffusers' pipelines import it (test extra)
diffusers = pytest.importorskip("diffusers")

TINY = dict(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=14, cross_attention_dim=28,
            caption_channels=8)
RELEASED = dict(in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32,
                attention_head_dim=64, cross_attention_dim=2048, num_layers=1, caption_channels=4096,
                qk_norm="rms_norm_across_heads")
BASE = (2, 3, 4)  # the grid the tiny tests scale from, in tokens (latent frames and pixels: patch 1)
PIPELINE_SCALE = (8 / 25, 32, 32)  # LTXPipeline's rope_interpolation_scale at 25 fps
GRIDS = [(4, 6, 8), (3, 7, 5), (2, 9, 4), (5, 3, 11)]
SCALING = [("interpolate", {}), ("ntk", {}), ("yarn", {}), ("riflex", {}), ("riflex", {"riflex_rule": "reference"})]
TEXT = 3
# Axes keeping LTX-Video's frequencies are its own float32 arithmetic: angles up to θ·π/2 ≈ 15708 rad, whose
# float32 spacing is 1e-3, so the float64 formula agrees to that (axes with new frequencies: float64, to 1e-7).
TOL = 2e-3


def build(config=None, *, layers: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    model = diffusers.LTXVideoTransformer3DModel(**(dict(TINY, num_layers=layers) if config is None else config))
    return model.eval()


@pytest.fixture(scope="module")
def tiny():
    return build()


@pytest.fixture(scope="module")
def released():
    return build(RELEASED)


def run(model, grid, scale=PIPELINE_SCALE, *, batch: int = 1):
    """``model``'s output ``(B, T·H·W, C)`` on seeded packed latents at token ``grid``, at the call's ``scale``."""
    t, h, w = grid
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, t * h * w, model.config.in_channels, generator=g)
    text = torch.randn(batch, TEXT, model.config.caption_channels, generator=g)
    with torch.no_grad():
        return model(x, text, torch.tensor([500] * batch), torch.ones(batch, TEXT), num_frames=t, height=h, width=w,
                     rope_interpolation_scale=scale, return_dict=False)[0]


def oracle(grid, base, dim, name, options, scale=PIPELINE_SCALE, bases=(20, 2048, 2048)):
    """``(cos, sin)`` ``(N, dim)`` float64 in LTX-Video's layout from the published formula (module docstring)."""
    pairs, pad = dim // 6, dim % 6
    f = 10000.0 ** (np.arange(pairs) / (pairs - 1)) * math.pi / 2  # rising
    per_axis = []
    for axis, (n, n0) in enumerate(zip(grid, base)):
        c = 1.0 if scale is None else scale[axis] / bases[axis]
        m, omega = per_token_axis(2 * c * f, n, n0, name, options, axis)  # rising: NTK's rank 0 is the last pair
        per_axis.append(np.outer(2 * c * m - 1, omega / (2 * c)))  # (n, K)
    t, h, w = (a.ravel() for a in np.meshgrid(*(np.arange(n) for n in grid), indexing="ij"))
    angles = np.stack([per_axis[0][t], per_axis[1][h], per_axis[2][w]], axis=-1).reshape(len(t), -1)  # (N, 3K)
    cos, sin = np.repeat(np.cos(angles), 2, axis=1), np.repeat(np.sin(angles), 2, axis=1)
    return (np.concatenate([np.ones((len(t), pad)), cos], 1), np.concatenate([np.zeros((len(t), pad)), sin], 1))


def seen_tables(model):
    """A list receiving what ``model.rope`` returns (after the strategy's hook, if registered after it)."""
    seen = []
    return seen, model.rope.register_forward_hook(lambda m, a, out: seen.append(out))


def test_ltx_is_supported_with_its_preset(released):
    assert "LTXVideoTransformer3DModel" in SUPPORTED_TRANSFORMERS
    assert BASE_GRIDS["ltx-video"].grids == ((16, 16, 24), (16, 22, 38))  # 121 frames at 512 × 768, 704 × 1216
    with use_strategy(released, "yarn") as handle:
        model = handle.model
        assert (model.family, model.head_dim, model.split, model.theta) == ("LTX-Video", 2048, (682,) * 3, 10000.0)
        assert handle.base_grids == BASE_GRIDS["ltx-video"].grids and model.rope_config == (20.0, 2048.0, 2048.0)


@pytest.mark.parametrize("name", PER_TOKEN)
@pytest.mark.parametrize("scale", [PIPELINE_SCALE, (8 / 50, 32, 32), None], ids=["25fps", "50fps", "no-scale"])
def test_base_grid_is_bit_identical(tiny, name, scale):
    expected = run(tiny, BASE, scale)
    with use_strategy(tiny, name, base_grid=BASE):
        assert torch.equal(run(tiny, BASE, scale), expected)


@pytest.mark.parametrize("grid", GRIDS)
def test_extrapolate_is_ltxs_own_rule_everywhere(tiny, grid):
    for scale in (PIPELINE_SCALE, (8 / 30, 32, 32), None):
        expected = run(tiny, grid, scale, batch=2)
        with use_strategy(tiny, "extrapolate", base_grid=BASE):
            assert torch.equal(run(tiny, grid, scale, batch=2), expected)


@pytest.mark.parametrize("name,options", SCALING, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("grid", GRIDS)
def test_larger_grids_equal_the_published_formula(tiny, name, options, grid):
    cos, sin = oracle(grid, BASE, 28, name, options)
    with use_strategy(tiny, name, base_grid=BASE, **options):
        seen, hook = seen_tables(tiny)
        given = run(tiny, grid)
    hook.remove()
    (mine_cos, mine_sin), = seen
    assert mine_cos.shape == (1, len(cos), 28)
    np.testing.assert_allclose(mine_cos[0].numpy(), cos, rtol=0, atol=TOL)
    np.testing.assert_allclose(mine_sin[0].numpy(), sin, rtol=0, atol=TOL)
    assert torch.isfinite(given).all()


def test_turns_follow_the_calls_frame_rate(tiny):
    """Time's radians per latent frame are 2·(8/fps)/20·F_j, half at 50 fps what they are at 25: YaRN's ramp counts
    turns at the call's rate, and at each rate the tables are the formula's."""
    grid = (4, 3, 4)
    for fps in (25, 50):
        scale = (8 / fps, 32, 32)
        with use_strategy(tiny, "yarn", base_grid=BASE):
            seen, hook = seen_tables(tiny)
            run(tiny, grid, scale)
        hook.remove()
        np.testing.assert_allclose(seen[0][0][0].numpy(), oracle(grid, BASE, 28, "yarn", {}, scale)[0], atol=TOL)


@pytest.mark.parametrize("name,options", SCALING, ids=lambda v: v if isinstance(v, str) else "")
def test_released_dimensions(released, name, options):
    small, larger = (2, 4, 6), (3, 8, 10)
    expected = run(released, small)
    with use_strategy(released, name, base_grid=small, **options):
        assert torch.equal(run(released, small), expected)
        seen, hook = seen_tables(released)
        run(released, larger)
    hook.remove()
    cos, _ = oracle(larger, small, 2048, name, options)
    # 341 pairs: F_j's float32 exponent j/340 is rounded too, 3e-7 of F_j, up to 5e-3 rad at θ·π/2
    np.testing.assert_allclose(seen[0][0][0].numpy(), cos, rtol=0, atol=1e-2)


@pytest.mark.parametrize("name", [n for n in ENCODINGS["rope"] if n not in PER_TOKEN])
def test_crop_strategies_are_refused_by_name(name):
    with pytest.raises(ValueError, match=rf"strategy='{name}' cannot be used by LTX-Video.*valid strategies: "
                                         r"'extrapolate', 'interpolate', 'ntk'"):
        use_strategy(build(layers=1), name)


def test_bad_input_is_refused_clearly(tiny):
    with pytest.raises(ValueError, match=r"patch_size=2, patch_size_t=1: its rope counts positions per latent pixel"):
        use_strategy(build(dict(TINY, num_layers=1, patch_size=2)), "yarn")
    with pytest.raises(ValueError, match=r"base_grid='mochi' is a Mochi preset, but the model is LTX-Video"):
        use_strategy(tiny, "yarn", base_grid="mochi")
    with use_strategy(tiny, "yarn", base_grid=BASE):
        with pytest.raises(ValueError, match=r"rope_interpolation_scale must be three positive numbers"):
            run(tiny, BASE, (8 / 25, 32))
        with pytest.raises(ValueError, match=r"hidden_states \(1, 24, 4\) must be packed latents \(B, T·H·W, C\)"):
            with torch.no_grad():
                tiny(torch.zeros(1, 24, 4), torch.zeros(1, TEXT, 8), torch.tensor([1]), torch.ones(1, TEXT),
                     num_frames=2, height=3, width=5, rope_interpolation_scale=PIPELINE_SCALE)
        with pytest.raises(ValueError, match=r"video_coords \(LTXConditionPipeline's conditioning positions\)"):
            with torch.no_grad():
                tiny(torch.zeros(1, 24, 4), torch.zeros(1, TEXT, 8), torch.tensor([1]), torch.ones(1, TEXT),
                     video_coords=torch.zeros(1, 3, 24))
    expected = run(tiny, (4, 6, 8))
    with pytest.raises(KeyError):
        with use_strategy(tiny, "yarn", base_grid=BASE):
            raise KeyError("inside")
    assert torch.equal(run(tiny, (4, 6, 8)), expected)


def generate(pipeline, **call):
    g = torch.Generator().manual_seed(2)
    mask = torch.ones(1, TEXT, dtype=torch.long)
    prompt = dict(prompt_embeds=torch.randn(1, TEXT, 8, generator=g), prompt_attention_mask=mask,
                  negative_prompt_embeds=torch.randn(1, TEXT, 8, generator=g), negative_prompt_attention_mask=mask)
    return pipeline(**prompt, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="latent",
                    **call).frames


def test_tiny_pipeline_runs_under_a_strategy():
    """LTXPipeline (flow-matching Euler, no VAE or text encoder: latents out, prompt embeddings in) passes its
    rope_interpolation_scale per call: its own latents at the base grid under every strategy and at two frame
    rates, under extrapolate at a larger grid; YaRN changes the larger call; 8N+1 frames are checked first."""
    pipeline = diffusers.LTXPipeline(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=None,
                                     text_encoder=None, tokenizer=None, transformer=build(layers=1))
    pipeline.set_progress_bar_config(disable=True)
    trained, larger = dict(num_frames=9, height=96, width=128), dict(num_frames=25, height=160, width=192)
    for rate in (25, 12):
        own, big = generate(pipeline, frame_rate=rate, **trained), generate(pipeline, frame_rate=rate, **larger)
        for name in ("extrapolate", "yarn", "interpolate"):
            with use_strategy(pipeline, name, base_grid=BASE):
                assert torch.equal(generate(pipeline, frame_rate=rate, **trained), own), name
                scaled = generate(pipeline, frame_rate=rate, **larger)
            assert scaled.shape == big.shape == (1, 4 * 5 * 6, 4)  # packed: 4 × 5 × 6 tokens
            assert torch.equal(scaled, big) == (name == "extrapolate"), name
    with use_strategy(pipeline, "yarn", base_grid=BASE):
        with pytest.raises(ValueError, match=r"num_frames=10 cannot be taken by LTX-Video: frames must be 8N\+1"):
            generate(pipeline, num_frames=10, height=96, width=128)


def test_compiled_model_gives_the_eager_output():
    """torch.compile (the aot_eager backend, to keep it quick): the per-call tables are built eagerly (a graph break)
    and the compiled patched model equals the eager patched one."""
    model = build(layers=1)
    grid = (4, 6, 8)
    with use_strategy(model, "yarn", base_grid=BASE):
        eager = run(model, grid)
    compiled = torch.compile(model, backend="aot_eager")
    with use_strategy(compiled, "yarn", base_grid=BASE):
        assert torch.equal(run(compiled, grid), eager)
        assert torch.equal(run(compiled, grid, (8 / 50, 32, 32)), run(model, grid, (8 / 50, 32, 32)))
    torch.compiler.reset()
