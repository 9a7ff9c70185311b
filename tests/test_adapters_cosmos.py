"""cogpe.adapters.use_strategy on Cosmos: θ scaled per axis by its rope_scale, time scaled by base_fps / fps.

Models: diffusers' ``CosmosTransformer3DModel`` from a tiny config (2 heads of 12: split 4, 4, 4) and, one
layer deep, from the released configs of diffusers' conversion script (Cosmos 1.0 7B: 32 heads of 128,
rope_scale (2, 1, 1), a learned table per axis; Cosmos 2 14B Video2World: 40 heads of 128, rope_scale
(20/24, 2, 2), none), with ``concat_padding_mask`` off (diffusers resizes that mask with torchvision, not a
test dependency; it adds one input channel to the patch embedding and nothing to the positions); random
weights, nothing downloaded. Oracles: the unpatched model (its own ``rope``),
and tables computed here in numpy float64 from the published formula — ``θ_a = 10000·r_a^(d_a/(d_a−2))``,
radians per token ``θ_a^(−2j/d_a)`` (time times ``24/fps``), PI, NTK, YaRN's ramp and both RIFLEx rules
counted in tokens, layout ``[t h w | t h w]`` — never through ``cogpe``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adapters_support import one_thread, per_token_axis  # noqa: F401 (one_thread: autouse fixture)
from cogpe.adapters import BASE_GRIDS, SUPPORTED_TRANSFORMERS, use_strategy
from cogpe.strategy import ENCODINGS, PER_TOKEN

pytest.importorskip("transformers")  # diffusers' pipelines import it (test extra)
diffusers = pytest.importorskip("diffusers")

TINY = dict(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=12, num_layers=2,
            text_embed_dim=8, adaln_lora_dim=4, max_size=(16, 32, 32), patch_size=(1, 2, 2), rope_scale=(2.0, 1.0, 1.0),
            concat_padding_mask=False)
_RELEASED = dict(out_channels=16, attention_head_dim=128, num_layers=1, mlp_ratio=4.0, text_embed_dim=1024,
                 adaln_lora_dim=256, max_size=(128, 240, 240), patch_size=(1, 2, 2), concat_padding_mask=False)
RELEASED = {
    "cosmos-1.0-7b": dict(_RELEASED, in_channels=16, num_attention_heads=32, rope_scale=(2.0, 1.0, 1.0),
                          extra_pos_embed_type="learnable"),
    "cosmos-2-14b-video2world": dict(_RELEASED, in_channels=17, num_attention_heads=40, rope_scale=(20 / 24, 2.0, 2.0),
                                     extra_pos_embed_type=None),
}
BASE = (3, 4, 6)
GRIDS = [(6, 8, 12), (5, 7, 9), (3, 9, 5), (7, 4, 13)]
SCALING = [("interpolate", {}), ("ntk", {}), ("yarn", {}), ("riflex", {}), ("riflex", {"riflex_rule": "reference"})]
TEXT = 3


def build(config=None, *, seed: int = 0, **changes):
    torch.manual_seed(seed)
    return diffusers.CosmosTransformer3DModel(**dict(TINY if config is None else config, **changes)).eval()


@pytest.fixture(scope="module")
def tiny():
    return build()


_CACHE: dict = {}  # one layer of each released config, built once


def _released(name):
    if name not in _CACHE:
        _CACHE[name] = build(RELEASED[name])
    return _CACHE[name]


def run(model, grid, fps=30):
    t, h, w = grid
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, model.config.in_channels, t, 2 * h, 2 * w, generator=g)
    text = torch.randn(1, TEXT, model.config.text_embed_dim, generator=g)
    with torch.no_grad():
        return model(x, torch.tensor([0.5]), text, fps=fps, return_dict=False)[0]


def oracle(grid, base, head_dim, rope_scale, name, options, fps=30):
    """``(cos, sin)`` ``(N, head_dim)`` float64 in Cosmos's layout from the published formula (module docstring)."""
    hw = head_dim // 6 * 2
    angles = []
    for axis, (n, n0, d, r) in enumerate(zip(grid, base, (head_dim - 2 * hw, hw, hw), rope_scale)):
        theta = 10000.0 * r ** (d / (d - 2))
        omega = theta ** (-np.arange(0, d, 2) / d) * (24 / fps if axis == 0 and fps else 1.0)
        m, omega = per_token_axis(omega, n, n0, name, options, axis)
        angles.append(np.outer(m, omega))
    t, h, w = (a.ravel() for a in np.meshgrid(*(np.arange(n) for n in grid), indexing="ij"))
    half = np.concatenate([angles[0][t], angles[1][h], angles[2][w]], axis=1)  # (N, head_dim/2)
    return np.tile(np.cos(half), 2), np.tile(np.sin(half), 2)


def seen_tables(model):
    seen = []
    return seen, model.rope.register_forward_hook(lambda m, a, out: seen.append(out))


def test_cosmos_is_supported_with_its_presets():
    assert "CosmosTransformer3DModel" in SUPPORTED_TRANSFORMERS
    assert BASE_GRIDS["cosmos-1.0"].grids == ((16, 44, 80),) and BASE_GRIDS["cosmos-2"].grids == ((24, 44, 80),)
    for name, preset in (("cosmos-1.0-7b", "cosmos-1.0"), ("cosmos-2-14b-video2world", "cosmos-2")):
        with use_strategy(_released(name), "yarn") as handle:
            model = handle.model
            assert (model.family, model.split, model.preset, model.max_positions) == ("Cosmos", (44, 42, 42), preset, 128)
            assert model.rope_config == (*RELEASED[name]["rope_scale"], 24.0)


@pytest.mark.parametrize("name", PER_TOKEN)
@pytest.mark.parametrize("fps", [30, 16, None])
def test_base_grid_is_bit_identical(tiny, name, fps):
    expected = run(tiny, BASE, fps)
    with use_strategy(tiny, name, base_grid=BASE):
        assert torch.equal(run(tiny, BASE, fps), expected)


@pytest.mark.parametrize("grid", GRIDS)
def test_extrapolate_is_cosmoss_own_rule_everywhere(tiny, grid):
    for fps in (30, 24, None):
        expected = run(tiny, grid, fps)
        with use_strategy(tiny, "extrapolate", base_grid=BASE):
            assert torch.equal(run(tiny, grid, fps), expected)


@pytest.mark.parametrize("name,options", SCALING, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("grid", GRIDS)
def test_larger_grids_equal_the_published_formula(tiny, name, options, grid):
    cos, sin = oracle(grid, BASE, 12, (2.0, 1.0, 1.0), name, options)
    with use_strategy(tiny, name, base_grid=BASE, **options):
        seen, hook = seen_tables(tiny)
        given = run(tiny, grid)
    hook.remove()
    (mine_cos, mine_sin), = seen
    np.testing.assert_allclose(mine_cos.numpy(), cos, rtol=0, atol=2e-6)
    np.testing.assert_allclose(mine_sin.numpy(), sin, rtol=0, atol=2e-6)
    assert torch.isfinite(given).all()


def test_turns_follow_the_calls_frame_rate(tiny):
    """Time turns 24/fps times θ_t^(−2j/d) per latent frame: at each fps the tables are the formula's, and they
    differ between rates by more than the positions (YaRN's ramp sees the rate)."""
    grid = (6, 4, 6)
    for fps in (12, 30, 60):
        with use_strategy(tiny, "yarn", base_grid=BASE):
            seen, hook = seen_tables(tiny)
            run(tiny, grid, fps)
        hook.remove()
        np.testing.assert_allclose(seen[0][0].numpy(), oracle(grid, BASE, 12, (2.0, 1.0, 1.0), "yarn", {}, fps)[0],
                                   rtol=0, atol=2e-6)


@pytest.mark.parametrize("model", list(RELEASED))
@pytest.mark.parametrize("name,options", SCALING, ids=lambda v: v if isinstance(v, str) else "")
def test_released_dimensions(model, name, options):
    small, larger = (2, 4, 6), (3, 8, 10)
    transformer = _released(model)
    expected = run(transformer, small, 16)
    with use_strategy(transformer, name, base_grid=small, **options):
        assert torch.equal(run(transformer, small, 16), expected)
        seen, hook = seen_tables(transformer)
        run(transformer, larger, 16)
    hook.remove()
    cos, _ = oracle(larger, small, 128, RELEASED[model]["rope_scale"], name, options, fps=16)
    np.testing.assert_allclose(seen[0][0].numpy(), cos, rtol=0, atol=2e-6)


@pytest.mark.parametrize("name", [n for n in ENCODINGS["rope"] if n not in PER_TOKEN])
def test_crop_strategies_are_refused_by_name(name):
    with pytest.raises(ValueError, match=rf"strategy='{name}' cannot be used by Cosmos.*valid strategies: "
                                         r"'extrapolate', 'interpolate', 'ntk'") as err:
        use_strategy(build(num_layers=1), name)
    assert "not token indices" in str(err.value) and "learned per head" not in str(err.value)  # not Mochi's reason


def test_bad_input_is_refused_clearly(tiny):
    with pytest.raises(ValueError, match=r"base_grid='mochi' is a Mochi preset, but the model is Cosmos"):
        use_strategy(tiny, "yarn", base_grid="mochi")
    with pytest.raises(ValueError, match=r"base_grid \(3, 4, 20\) has 20 tokens along W, more than Cosmos"):
        use_strategy(tiny, "yarn", base_grid=(3, 4, 20))
    with use_strategy(tiny, "yarn", base_grid=BASE):
        with pytest.raises(ValueError, match=r"fps must be a positive number"):
            run(tiny, BASE, fps=-1)
        with pytest.raises(ValueError, match=r"latent width W=5 is not a multiple of patch_size=2"):
            with torch.no_grad():
                tiny(torch.zeros(1, 4, 3, 8, 5), torch.tensor([0.5]), torch.zeros(1, TEXT, 8), fps=30)
    expected = run(tiny, (5, 7, 9))
    with pytest.raises(KeyError):
        with use_strategy(tiny, "yarn", base_grid=BASE):
            raise KeyError("inside")
    assert torch.equal(run(tiny, (5, 7, 9)), expected)


class PassingSafetyChecker(torch.nn.Module):
    """Stands in for CosmosSafetyChecker, which needs the cosmos_guardrail package: passes every prompt and video."""

    device, dtype = torch.device("cpu"), torch.float32  # what the pipeline asks of its components

    def check_text_safety(self, prompt) -> bool:
        return True

    def check_video_safety(self, video):
        return video


def generate(pipeline, **call):
    g = torch.Generator().manual_seed(2)
    prompt = dict(prompt_embeds=torch.randn(1, TEXT, 8, generator=g), negative_prompt_embeds=torch.randn(1, TEXT, 8, generator=g))
    return pipeline(**prompt, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="latent",
                    **call).frames


def test_tiny_pipeline_runs_under_a_strategy():
    """CosmosTextToWorldPipeline (EDM Euler; no VAE or text encoder: latents out, prompt embeddings in; a passing
    safety checker) passes its fps per call: its own latents at the base grid under every strategy and at two
    frame rates, under extrapolate at a larger grid; YaRN changes the larger call; 8N+1 frames are checked first."""
    pipeline = diffusers.CosmosTextToWorldPipeline(text_encoder=None, tokenizer=None, transformer=build(num_layers=1),
                                                   vae=None, scheduler=diffusers.EDMEulerScheduler(),
                                                   safety_checker=PassingSafetyChecker())
    pipeline.set_progress_bar_config(disable=True)
    trained, larger = dict(num_frames=17, height=64, width=96), dict(num_frames=33, height=96, width=160)
    for fps in (30, 12):
        own, big = generate(pipeline, fps=fps, **trained), generate(pipeline, fps=fps, **larger)
        for name in ("extrapolate", "yarn", "interpolate"):
            with use_strategy(pipeline, name, base_grid=BASE):
                assert torch.equal(generate(pipeline, fps=fps, **trained), own), name
                scaled = generate(pipeline, fps=fps, **larger)
            assert scaled.shape == big.shape == (1, 4, 5, 12, 20)
            assert torch.equal(scaled, big) == (name == "extrapolate"), name
    with use_strategy(pipeline, "yarn", base_grid=BASE):
        with pytest.raises(ValueError, match=r"num_frames=18 cannot be taken by Cosmos 1.0: frames must be 8N\+1"):
            generate(pipeline, num_frames=18, height=64, width=96)


def test_compiled_model_gives_the_eager_output():
    """torch.compile (aot_eager backend): the per-call tables are built eagerly (a graph break); the compiled
    patched model equals the eager patched one at two frame rates."""
    model = build(num_layers=1)
    grid = (6, 8, 12)
    with use_strategy(model, "yarn", base_grid=BASE):
        eager = {fps: run(model, grid, fps) for fps in (30, 12)}
    compiled = torch.compile(model, backend="aot_eager")
    with use_strategy(compiled, "yarn", base_grid=BASE):
        for fps in (30, 12):
            assert torch.equal(run(compiled, grid, fps), eager[fps])
    torch.compiler.reset()
