"""cogpe.adapters on the real models' dimensions: one-layer transformers built from the published configs.

Tiny test configs hide bugs that only the real sizes show (a head split, a θ, a patch, a trained size).
Each model here is diffusers' own class with its release's hidden size, heads, head dimension, patch
sizes, channels and RoPE settings, one layer deep, random weights, nothing downloaded:

- CogVideoX 2B, 5B, 5B-I2V (SAT configs and diffusers' conversion script: 30 or 48 heads of 64, sample
  49 × 60 × 90 latent, 226 text tokens; 2B sincos with 1.875; I2V 32 input channels and a learned
  table), 1.5-5B (patch_size_t 2, sample 81 frames, 300 × 300 latent);
- Wan 2.1 T2V-1.3B (12 heads of 128, FFN 8960), 14B (40 heads, FFN 13824), Wan 2.2 TI2V-5B (24 heads,
  FFN 14336, 48 latent channels) — ``wan/configs`` of Wan2.1 and Wan2.2;
- HunyuanVideo (24 heads of 128, ``rope_axes_dim`` 16/56/56, θ 256, guidance embedding).

For each: the split, θ and default base grids read as published; at every trained size the adapter
gives the model's own tables (Wan and HunyuanVideo: what their ``rope`` module builds; CogVideoX: what
its pipeline builds); a forward at a small grid, under every strategy scaling from it, is the unpatched
model's bit for bit; and at a larger grid the tables the attention receives equal tables computed here
with numpy from the published formulas (PI, NTK, YaRN's ramp, RIFLEx), independently of ``cogpe``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from adapters_support import get_3d_rotary_pos_embed, pipeline_tables
from adapters_wan_hunyuan_support import diffusers, own_tables
from cogpe.adapters import BASE_GRIDS, use_strategy
from cogpe.strategy import ENCODINGS

TEXT = 226  # CogVideoX's max_text_seq_length; the other models take any text length

_COGVIDEOX = dict(attention_head_dim=64, out_channels=16, time_embed_dim=512, text_embed_dim=4096, num_layers=1,
                  sample_frames=49, sample_height=60, sample_width=90, patch_size=2, max_text_seq_length=TEXT)
_WAN = dict(patch_size=(1, 2, 2), attention_head_dim=128, text_dim=4096, freq_dim=256, num_layers=1,
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)

# name -> (family, class name, config)
MODELS = {
    "cogvideox-2b": ("cogvideox", dict(_COGVIDEOX, num_attention_heads=30, in_channels=16,
                                       use_rotary_positional_embeddings=False, spatial_interpolation_scale=1.875)),
    "cogvideox-5b": ("cogvideox", dict(_COGVIDEOX, num_attention_heads=48, in_channels=16,
                                       use_rotary_positional_embeddings=True)),
    "cogvideox-5b-i2v": ("cogvideox", dict(_COGVIDEOX, num_attention_heads=48, in_channels=32,
                                           use_rotary_positional_embeddings=True,
                                           use_learned_positional_embeddings=True)),
    "cogvideox1.5-5b": ("cogvideox", dict(_COGVIDEOX, num_attention_heads=48, in_channels=16, patch_size_t=2,
                                          sample_frames=81, sample_height=300, sample_width=300,
                                          use_rotary_positional_embeddings=True)),
    "wan2.1-1.3b": ("wan", dict(_WAN, num_attention_heads=12, in_channels=16, out_channels=16, ffn_dim=8960)),
    "wan2.1-14b": ("wan", dict(_WAN, num_attention_heads=40, in_channels=16, out_channels=16, ffn_dim=13824)),
    "wan2.2-ti2v-5b": ("wan", dict(_WAN, num_attention_heads=24, in_channels=48, out_channels=48, ffn_dim=14336)),
    "hunyuanvideo": ("hunyuan", dict(in_channels=16, out_channels=16, num_attention_heads=24, attention_head_dim=128,
                                     num_layers=1, num_single_layers=1, num_refiner_layers=1, mlp_ratio=4.0,
                                     patch_size=2, patch_size_t=1, qk_norm="rms_norm", guidance_embeds=True,
                                     text_embed_dim=4096, pooled_projection_dim=768, rope_theta=256.0,
                                     rope_axes_dim=(16, 56, 56))),
}
# what each reads as: (t, h, w) split, θ, the default base grids
PUBLISHED = {
    "cogvideox-2b": (None, None, ((13, 30, 45),)),
    "cogvideox-5b": ((16, 24, 24), 10000.0, ((13, 30, 45),)),
    "cogvideox-5b-i2v": ((16, 24, 24), 10000.0, ((13, 30, 45),)),
    "cogvideox1.5-5b": ((16, 24, 24), 10000.0, ((11, 150, 150),)),
    "wan2.1-1.3b": ((44, 42, 42), 10000.0, BASE_GRIDS["wan-480p"].grids),
    "wan2.1-14b": ((44, 42, 42), 10000.0, BASE_GRIDS["wan-14b"].grids),
    "wan2.2-ti2v-5b": ((44, 42, 42), 10000.0, BASE_GRIDS["wan2.2-5b-720p"].grids),
    "hunyuanvideo": ((16, 56, 56), 256.0, BASE_GRIDS["hunyuanvideo"].grids),
}
ROPE_MODELS = [name for name in MODELS if name != "cogvideox-2b"]
SMALL, LARGER = (2, 4, 6), (3, 8, 10)  # a small grid to scale from, and one larger on every axis
SCALING = ("interpolate", "ntk", "yarn", "riflex")


def build(name):
    """Model ``name``: one layer of the published config, random weights (Wan 14B's layer: 584 M parameters)."""
    family, config = MODELS[name]
    cls = {"cogvideox": diffusers.CogVideoXTransformer3DModel, "wan": diffusers.WanTransformer3DModel,
           "hunyuan": diffusers.HunyuanVideoTransformer3DModel}[family]
    torch.manual_seed(0)
    return cls(**config).eval()


@pytest.mark.parametrize("name", list(MODELS))
def test_real_dimensions(name):
    """Every check below on one model, built once (building is most of the cost)."""
    model = build(name)
    check_reads_as_published(model, name)
    check_small_grid_forward(model, name)
    if name in ROPE_MODELS:
        check_trained_sizes(model, name)
        check_larger_grid_tables(model, name)


def forward(model, name, grid, **kw):
    """``model``'s output at token ``grid`` on seeded inputs in its family's layout (timestep 500)."""
    family, config = MODELS[name]
    t, h, w = grid
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        if family == "cogvideox":
            frames = t * (config.get("patch_size_t") or 1)
            hidden = torch.randn(1, frames, config["in_channels"], 2 * h, 2 * w, generator=g)  # (B, F, C, H, W)
            table = config.get("use_learned_positional_embeddings") or not config["use_rotary_positional_embeddings"]
            tokens = TEXT if table else 8  # an additive table has rows for max_text_seq_length text tokens
            text = torch.randn(1, tokens, 4096, generator=g)
            return model(hidden, text, torch.tensor([500]), **kw).sample
        hidden = torch.randn(1, config["in_channels"], t, 2 * h, 2 * w, generator=g)  # (B, C, F, H, W)
        text = torch.randn(1, 8, 4096, generator=g)
        if family == "wan":
            return model(hidden, torch.tensor([500]), text).sample
        mask, pooled = torch.ones(1, 8, dtype=torch.bool), torch.randn(1, 768, generator=g)
        return model(hidden, torch.tensor([500]), text, mask, pooled, guidance=torch.tensor([6000.0])).sample


def integer_tables(grid):
    """diffusers' own integer-position CogVideoX tables (``grid_type="slice"``) at token ``grid``."""
    t, h, w = grid
    return get_3d_rotary_pos_embed(64, None, (h, w), t, grid_type="slice", max_size=(h, w))


def received(model, name):
    """A list that gets the (cos, sin) the first attention runs with, as ``(N, D)``, call by call."""
    family = MODELS[name][0]
    attention = model.transformer_blocks[0].attn1 if family == "cogvideox" else (
        model.blocks[0].attn1 if family == "wan" else model.transformer_blocks[0].attn)
    seen, run = [], attention.forward

    def spy(*args, **kwargs):
        tables = args[3] if family == "wan" else kwargs["image_rotary_emb"]
        seen.append(tuple(x.reshape(-1, x.shape[-1]) for x in tables))
        return run(*args, **kwargs)

    attention.forward = spy
    return seen


def check_reads_as_published(model, name):
    split, theta, grids = PUBLISHED[name]
    strategy = "extrapolate"
    with use_strategy(model, strategy) as handle:
        assert handle.base_grids == grids
        if split is not None:
            assert handle.model.split == split and handle.model.theta == theta
        else:
            assert handle.model.encoding == "sincos" and handle.model.patch_table.scale == (1.0, 1.875, 1.875)


def check_trained_sizes(model, name):
    """CogVideoX 1.5's 768 × 1360 (11 × 48 × 85) lies inside its 150 × 150 base box: there the pipeline's
    integer positions are every strategy's but the crop region's, which squeezes them into the box."""
    family = MODELS[name][0]
    version = "1.5" if name == "cogvideox1.5-5b" else "1.0"
    grids = PUBLISHED[name][2] + (((11, 48, 85),) if version == "1.5" else ())
    # every strategy at s ≤ 1 takes the same path; these four reach it from each kind of rule (the tiny
    # models' tests run all seven at every preset grid)
    for strategy in ("ntk", "yarn", "riflex", "linspace-crop-diffusers"):
        with use_strategy(model, strategy) as handle:
            for grid in grids:
                if strategy.startswith("linspace-crop") and grid not in handle.base_grids:
                    continue
                own = own_tables(model, grid) if family != "cogvideox" else pipeline_tables(model, version, grid)
                given = handle.tables(grid)
                assert torch.equal(given[0], own[0]) and torch.equal(given[1], own[1]), (strategy, grid)
                assert handle.q_scale(grid) == 1.0


def check_small_grid_forward(model, name):
    """Scaling from the grid it runs at, every strategy gives the unpatched output (CogVideoX fed diffusers'
    integer tables, as its pipeline does at its trained grid); the 2B and 5B-I2V keep their config's grid."""
    family = MODELS[name][0]
    if name == "cogvideox-5b-i2v":
        grid, kw = (13, 30, 45), {}  # its learned table exists for this grid only: tables compared instead
        with use_strategy(model, "yarn") as handle:
            assert handle.patch_table(grid) is None and handle.q_scale(grid) == 1.0
        return
    grid = SMALL
    own = forward(model, name, grid, **({"image_rotary_emb": integer_tables(grid)} if name != "cogvideox-2b"
                                        and family == "cogvideox" else {}))
    strategies = ENCODINGS["sincos"] if name == "cogvideox-2b" else [
        s for s in ENCODINGS["rope"] if not s.startswith("linspace-crop")]  # crop: a box of the config's grid
    for strategy in strategies:
        kw = {} if name == "cogvideox-2b" else {"base_grid": grid}
        with use_strategy(model, strategy, **kw):
            assert torch.equal(forward(model, name, grid), own), strategy


# --- numpy, from the published formulas ------------------------------------------------------------------------


def numpy_axis(n: int, n0: int, d: int, theta: float, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(n,)`` and frequencies ``(d/2,)`` of one axis of ``d`` channels trained on ``n0`` tokens."""
    freqs = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # θ_j = θ^(-2j/d)
    positions = np.arange(n, dtype=np.float64)
    s = n / n0
    if s <= 1:
        return positions, freqs
    if strategy == "interpolate":  # PI: m / s
        positions = positions / s
    elif strategy == "ntk":  # NTK-aware: base θ·s^(d/(d-2))
        freqs = (theta * s ** (d / (d - 2))) ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    elif strategy == "yarn":  # NTK-by-parts: r_j = n0·θ_j/2π turns, ramp from 1 to 4 turns
        ramp = np.clip((n0 * freqs / (2 * math.pi) - 1.0) / (4.0 - 1.0), 0.0, 1.0)
        freqs = (1 - ramp) * freqs / s + ramp * freqs
    elif strategy == "riflex":  # the first pair with no complete turn in training, slowed to cover n
        k = int(np.nonzero(2 * math.pi / freqs > n0 - 1)[0][0])
        freqs = freqs.copy()
        freqs[k] = min(freqs[k], 2 * math.pi / (s * n0))
    return positions, freqs


def numpy_tables(grid, base, split, theta, strategy) -> tuple[np.ndarray, np.ndarray]:
    """``(cos, sin)``, each ``(T*H*W, sum(split))``: per axis ``m·θ_j`` interleaved ``(θ0, θ0, θ1, θ1, …)``."""
    blocks = []
    for axis, (n, n0, d) in enumerate(zip(grid, base, split)):
        positions, freqs = numpy_axis(n, n0, d, theta, strategy)
        angles = np.repeat(np.outer(positions, freqs), 2, axis=1)  # (n, d)
        shape = [1, 1, 1, d]
        shape[axis] = n
        blocks.append(np.broadcast_to(angles.reshape(shape), (*grid, d)))
    angles = np.concatenate(blocks, axis=-1).reshape(-1, sum(split))  # (T*H*W, D), token-major (t, h, w)
    return np.cos(angles), np.sin(angles)


def check_larger_grid_tables(model, name):
    """At 3×8×10 from 2×4×6 (every axis scaled), what the first attention receives is numpy's table."""
    family = MODELS[name][0]
    split, theta, _ = PUBLISHED[name]
    seen = received(model, name)
    for strategy in SCALING:
        kw = {"learned_table": "drop"} if name == "cogvideox-5b-i2v" else {}
        with use_strategy(model, strategy, base_grid=SMALL, **kw) as handle:
            forward(model, name, LARGER)
            cos, sin = numpy_tables(LARGER, SMALL, split, theta, strategy)
            for given, expected in zip(seen[-1], (cos, sin)):
                np.testing.assert_allclose(given.double().numpy(), expected, rtol=0, atol=2e-6, err_msg=strategy)
            m = 0.1 * math.log(max(n / n0 for n, n0 in zip(LARGER, SMALL))) + 1 if strategy == "yarn" else 1.0
            assert handle.q_scale(LARGER) == pytest.approx(m * m)
    assert family in ("cogvideox", "wan", "hunyuan")
