"""cogpe.adapters.use_strategy on Allegro, whose positions are token indices divided by its interpolation scales.

Models: diffusers' ``AllegroTransformer3DModel`` from a tiny config (2 heads of 12, patch 2, sample grid
3 × 4 × 6 tokens) and, one layer deep, from the released config (24 heads of 96, patch 2, sample 22 × 90
× 160 latent, scales 2.2 / 2 / 2, caption 4096, cross-attention 2304); random weights, nothing
downloaded. Oracles: the unpatched model fed the tables its own pipeline builds
(``AllegroPipeline._prepare_rotary_positional_embeddings``), and tables computed here in numpy float64
from the published formula — angle ``g(m)·h(ω_j)`` with ``ω_j = 10000^(−2j/d) / scale`` radians per token,
PI, NTK, YaRN's ramp and both RIFLEx rules counted in tokens — never through ``cogpe``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from adapters_support import one_thread, per_token_axis  # noqa: F401 (one_thread: autouse fixture)
from cogpe.adapters import SUPPORTED_TRANSFORMERS, use_strategy
from cogpe.strategy import ENCODINGS, PER_TOKEN

pytest.importorskip("transformers")  # diffusers' pipelines import it (test extra)
diffusers = pytest.importorskip("diffusers")
from diffusers.pipelines.allegro.pipeline_allegro import AllegroPipeline  # noqa: E402

TINY = dict(patch_size=2, patch_size_t=1, num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4,
            cross_attention_dim=24, sample_height=8, sample_width=12, sample_frames=3, caption_channels=8)
RELEASED = dict(patch_size=2, patch_size_t=1, num_attention_heads=24, attention_head_dim=96, in_channels=4,
                out_channels=4, num_layers=1, cross_attention_dim=2304, sample_height=90, sample_width=160,
                sample_frames=22, caption_channels=4096, interpolation_scale_t=2.2, interpolation_scale_h=2.0,
                interpolation_scale_w=2.0)
BASE = (3, 4, 6)  # the tiny config's sample grid in tokens
SCALES = (2.2, 2.0, 2.0)
GRIDS = [(6, 8, 12), (5, 7, 9), (3, 9, 5), (7, 4, 13)]
SCALING = [("interpolate", {}), ("ntk", {}), ("yarn", {}), ("riflex", {}), ("riflex", {"riflex_rule": "reference"})]


def build(config=None, *, layers: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    config = dict(TINY, num_layers=layers) if config is None else config
    return diffusers.AllegroTransformer3DModel(**config).eval()


@pytest.fixture(scope="module")
def tiny():
    return build()


@pytest.fixture(scope="module")
def released():
    return build(RELEASED)


def own_tables(model, grid):
    """What AllegroPipeline hands the transformer at token ``grid`` (its own function, unbound)."""
    holder = type("Holder", (), {"vae_scale_factor_spatial": 8, "transformer": model})()
    t, h, w = grid
    p = model.config.patch_size
    return AllegroPipeline._prepare_rotary_positional_embeddings(holder, 1, h * 8 * p, w * 8 * p, t, "cpu")


def inputs(model, grid, seed: int = 1):
    t, h, w = grid
    p, g = model.config.patch_size, torch.Generator().manual_seed(seed)
    return (torch.randn(1, model.config.in_channels, t, p * h, p * w, generator=g),
            torch.randn(1, 3, model.config.caption_channels, generator=g), torch.tensor([500]))


def run(model, grid, tables="own"):
    """``model``'s output at token ``grid``: with its pipeline's tables, given tables, or none (``None``)."""
    emb = own_tables(model, grid) if isinstance(tables, str) else tables
    with torch.no_grad():
        return model(*inputs(model, grid), image_rotary_emb=emb).sample


def oracle(grid, base, split, name, options, scales=SCALES):
    """``(cos, sin)`` ``(N, sum(split))`` float64: ``[t | h | w]``, each block ``[cos(a), cos(a)]`` (module docstring)."""
    blocks = []
    for axis, (n, n0, d, scale) in enumerate(zip(grid, base, split, scales)):
        omega = 10000.0 ** (-np.arange(0, d, 2) / d) / scale  # radians per token, decreasing
        m, omega = per_token_axis(omega, n, n0, name, options, axis)
        angles = np.outer(m, omega)
        blocks.append((np.tile(np.cos(angles), 2), np.tile(np.sin(angles), 2)))
    t, h, w = np.meshgrid(*(np.arange(n) for n in grid), indexing="ij")
    rows = [t.ravel(), h.ravel(), w.ravel()]
    cos = np.concatenate([blocks[a][0][rows[a]] for a in range(3)], axis=1)
    sin = np.concatenate([blocks[a][1][rows[a]] for a in range(3)], axis=1)
    return cos, sin


def as_emb(cos, sin, split):
    """numpy ``(N, d)`` tables as Allegro's ``image_rotary_emb`` (every token its own row)."""
    cos, sin = torch.as_tensor(cos, dtype=torch.float32), torch.as_tensor(sin, dtype=torch.float32)
    bounds = np.cumsum([0, *split])
    blocks = tuple((cos[:, a:b].contiguous(), sin[:, a:b].contiguous()) for a, b in zip(bounds[:-1], bounds[1:]))
    index = torch.arange(cos.shape[0])[None]
    return blocks, (index, index, index)


def captured(model):
    """A list receiving the ``image_rotary_emb`` every ``attn1`` is called with, and the hooks' removers."""
    seen = []
    hooks = [block.attn1.register_forward_pre_hook(lambda m, a, k: seen.append(k.get("image_rotary_emb")),
                                                   with_kwargs=True) for block in model.transformer_blocks]
    return seen, hooks


def test_allegro_is_supported_and_read_from_its_config(released):
    assert "AllegroTransformer3DModel" in SUPPORTED_TRANSFORMERS
    with use_strategy(released, "yarn") as handle:
        model = handle.model
        assert (model.family, model.split, model.theta, model.patch) == ("Allegro", (32, 32, 32), 10000.0, (1, 2, 2))
        assert handle.base_grids == ((22, 45, 80),) and model.rope_config == SCALES  # 88 × 720 × 1280
        assert model.strategies == PER_TOKEN


@pytest.mark.parametrize("name", PER_TOKEN)
def test_training_grid_is_bit_identical(tiny, name):
    expected = run(tiny, BASE)
    with use_strategy(tiny, name) as handle:
        assert torch.equal(run(tiny, BASE), expected)
        assert torch.equal(run(tiny, BASE, tables=None), expected)  # tables given even when the caller gives none
        (axes, _), own = handle.tables(BASE), own_tables(tiny, BASE)
        assert torch.equal(axes[:, :4], own[0][0][0][own[1][0][0]])  # time block, as the pipeline's rows


@pytest.mark.parametrize("grid", GRIDS)
def test_extrapolate_is_allegros_own_rule_everywhere(tiny, grid):
    expected = run(tiny, grid)
    with use_strategy(tiny, "extrapolate"):
        assert torch.equal(run(tiny, grid), expected)


@pytest.mark.parametrize("name,options", SCALING, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("grid", GRIDS)
def test_larger_grids_equal_the_published_formula(tiny, name, options, grid):
    """The tables every attn1 receives equal the numpy oracle; the model under the strategy is the unpatched
    model fed the oracle's tables."""
    cos, sin = oracle(grid, BASE, (4, 4, 4), name, options)
    # YaRN's temperature: every logit × (0.1·ln s + 1)², s the largest scale, put on q (after to_q: no qk-norm)
    m2 = (0.1 * math.log(max(n / n0 for n, n0 in zip(grid, BASE))) + 1) ** 2 if name == "yarn" else 1.0
    temperature = [b.attn1.to_q.register_forward_hook(lambda mod, a, out: out * m2) for b in tiny.transformer_blocks]
    expected = run(tiny, grid, tables=as_emb(cos, sin, (4, 4, 4)))
    for hook in temperature:
        hook.remove()
    with use_strategy(tiny, name, **options):
        seen, hooks = captured(tiny)  # registered after the strategy's hooks: sees what attn1 gets
        given = run(tiny, grid)
    for hook in hooks:
        hook.remove()
    assert len(seen) == 2
    for (blocks, rows) in seen:
        mine = [np.concatenate([b[i][r[0]].numpy() for b, r in zip(blocks, rows)], axis=1) for i in (0, 1)]
        np.testing.assert_allclose(mine[0], cos, rtol=0, atol=2e-6)
        np.testing.assert_allclose(mine[1], sin, rtol=0, atol=2e-6)
    torch.testing.assert_close(given, expected, rtol=1e-5, atol=1e-5)
    changed = not np.allclose(cos, oracle(grid, BASE, (4, 4, 4), "extrapolate", {})[0]) or name == "yarn"
    assert changed == (not torch.allclose(given, run(tiny, grid), atol=1e-4))  # RIFLEx may keep every pair here


def test_turns_are_counted_in_tokens():
    """With scale 2.2 time's pair 1 turns 2.2 times slower per token than θ_1 says: RIFLEx picks its k and YaRN's
    ramp its γ from ω = θ_j / 2.2 (here pair 1: period 2π·2.2/0.1 = 138 > 12 tokens, pair 0: 13.8 > 12)."""
    from cogpe.adapters.allegro import allegro_axes
    from cogpe.strategy import Strategy

    (_, ft), _, _ = allegro_axes(Strategy("riflex"), (26, 4, 6), (13, 4, 6), (4, 4, 4), SCALES)
    kept = 10000.0 ** (-np.arange(0, 4, 2) / 4) / 2.2
    assert 2 * math.pi / kept[0] > 12 and ft[0].item() == pytest.approx(2 * math.pi / 26) and ft[1].item() == kept[1]


@pytest.mark.parametrize("name,options", SCALING, ids=lambda v: v if isinstance(v, str) else "")
def test_released_dimensions(released, name, options):
    """One layer of the released config: identity at a small grid it is scaled from, the published formula at a
    larger one (the tables attn1 receives)."""
    small, larger = (2, 4, 6), (3, 8, 10)
    expected = run(released, small)
    with use_strategy(released, name, base_grid=small, **options):
        assert torch.equal(run(released, small), expected)
        seen, hooks = captured(released)
        run(released, larger)
    for hook in hooks:
        hook.remove()
    cos, sin = oracle(larger, small, (32, 32, 32), name, options)
    (blocks, rows), = seen
    mine = np.concatenate([b[0][r[0]].numpy() for b, r in zip(blocks, rows)], axis=1)
    np.testing.assert_allclose(mine, cos, rtol=0, atol=2e-6)


@pytest.mark.parametrize("name", ["extrapolate", "scale-shift"])
def test_released_dimensions_at_the_trained_grid(released, name):
    """At the small grid scaled from, the strategies that change nothing but through s > 1 are the identity too."""
    small = (2, 4, 6)
    expected = run(released, small)
    with use_strategy(released, name, base_grid=small):
        assert torch.equal(run(released, small), expected)


@pytest.mark.parametrize("name", [n for n in ENCODINGS["rope"] if n not in PER_TOKEN])
def test_crop_strategies_are_refused_by_name(name):
    with pytest.raises(ValueError, match=rf"strategy='{name}' cannot be used by Allegro.*valid strategies: "
                                         r"'extrapolate', 'interpolate', 'ntk'"):
        use_strategy(build(layers=1), name)


def test_bad_input_is_refused_clearly(tiny):
    with pytest.raises(ValueError, match=r"attention_head_dim=8 cannot split into Allegro's three equal blocks"):
        use_strategy(build(dict(TINY, num_layers=1, attention_head_dim=8, cross_attention_dim=16)), "yarn")
    odd = build(dict(TINY, num_layers=1, interpolation_scale_t=None))
    with pytest.raises(ValueError, match=r"interpolation_scale_t/h/w must be positive numbers"):
        use_strategy(odd, "yarn")
    with pytest.raises(ValueError, match=r"base_grid='wan-480p' is a Wan preset, but the model is Allegro"):
        use_strategy(tiny, "yarn", base_grid="wan-480p")
    with pytest.raises(ValueError, match=r"strategy='resample' cannot be used by Allegro"):
        use_strategy(tiny, "resample")
    with use_strategy(tiny, "yarn"):
        with pytest.raises(ValueError, match=r"latent width W=5 is not a multiple of patch_size=2"):
            tiny(torch.zeros(1, 4, 3, 8, 5), torch.zeros(1, 3, 8), torch.tensor([1]))
    expected = run(tiny, (5, 7, 9))
    with pytest.raises(KeyError):
        with use_strategy(tiny, "yarn"):
            raise KeyError("inside")
    assert torch.equal(run(tiny, (5, 7, 9)), expected)


def generate(pipeline, **call):
    g = torch.Generator().manual_seed(2)
    mask = torch.ones(1, 3, dtype=torch.long)
    prompt = dict(prompt_embeds=torch.randn(1, 3, 8, generator=g), prompt_attention_mask=mask,
                  negative_prompt_embeds=torch.randn(1, 3, 8, generator=g), negative_prompt_attention_mask=mask)
    return pipeline(**prompt, negative_prompt=None, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                    output_type="latent", **call).frames


def test_tiny_pipeline_runs_under_a_strategy():
    """AllegroPipeline (DDIM, no VAE or text encoder: latents out, prompt embeddings in): its own latents at the
    trained grid under every strategy and under extrapolate at twice it; others change a larger call."""
    pipeline = AllegroPipeline(tokenizer=None, text_encoder=None, vae=None, transformer=build(layers=1),
                               scheduler=diffusers.DDIMScheduler())
    pipeline.set_progress_bar_config(disable=True)
    trained, larger = dict(num_frames=12, height=64, width=96), dict(num_frames=24, height=128, width=192)
    own, big = generate(pipeline, **trained), generate(pipeline, **larger)
    for name in ("extrapolate", "yarn", "interpolate"):
        with use_strategy(pipeline, name):
            assert torch.equal(generate(pipeline, **trained), own), name
            scaled = generate(pipeline, **larger)
        assert scaled.shape == big.shape == (1, 4, 6, 16, 24)
        assert torch.equal(scaled, big) == (name == "extrapolate"), name
    assert torch.equal(generate(pipeline, **larger), big)
