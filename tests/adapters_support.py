"""Tiny CogVideoX transformers and pipelines, and diffusers' own table code, for the tests of cogpe.adapters.

The models are built from configs (random weights, fixed seed, CPU, no download); the pipelines are
diffusers' ``CogVideoXPipeline`` around them, with a tiny ``AutoencoderKLCogVideoX`` and no tokenizer or
text encoder (prompt embeddings are passed in). The oracle tables are diffusers' —
``get_3d_rotary_pos_embed`` and the pipeline's ``_prepare_rotary_positional_embeddings`` — called,
never copied.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")  # diffusers' pipelines import it (test extra)
diffusers = pytest.importorskip("diffusers")
diffusers_embeddings = pytest.importorskip("diffusers.models.embeddings")

get_3d_rotary_pos_embed = diffusers_embeddings.get_3d_rotary_pos_embed
apply_rotary_emb = diffusers_embeddings.apply_rotary_emb
CogVideoXTransformer3DModel = diffusers.CogVideoXTransformer3DModel
CogVideoXPipeline = diffusers.CogVideoXPipeline

HEAD_DIM = 16
SPLIT = (4, 6, 6)  # (hd/4, 3hd/8, 3hd/8)
TEXT = 3  # text tokens
# The training grid, in tokens. CogVideoX 1.0's config holds it: sample 9 frames → 3 latent, 8×12 latent
# → 4×6. CogVideoX 1.5's config holds the table its pipeline slices from (sample 17 frames → 5 → 6 → 3,
# 40×40 latent → 20×20), so, as for the real 1.5, the training grid is passed as base_grid.
BASE = (3, 4, 6)
MODELS = ("1.0", "1.5")
BASE_KW = {"1.0": {}, "1.5": {"base_grid": BASE}}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread while a module's tiny models run: on a few shared cores, OpenMP's thread
    hand-off costs 50× the arithmetic of a 300-token forward. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_transformer(
    version: str = "1.0", *, rope: bool = True, learned: bool = False, layers: int = 2, seed: int = 0,
    sample_hw: tuple[int, int] | None = None, image: bool = False,
):
    """A 2-layer, 2-head (head_dim 16) CogVideoX transformer of ``version`` with random weights (see BASE).

    ``learned=True`` is CogVideoX-5B-I2V's layout: 8 input channels (latents and image latents) and a
    learned additive table (drawn at random here) on top of RoPE; ``image=True`` the 8 input channels
    without a table (1.5-I2V's layout). ``sample_hw`` (latent pixels) overrides the config's sample size.
    LayerNorm weights and biases are drawn too (diffusers starts them at 1 and 0), so that qk-norm's
    affine part is not trivial.
    """
    torch.manual_seed(seed)
    model = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=HEAD_DIM, in_channels=8 if learned or image else 4, out_channels=4,
        time_embed_dim=8, use_learned_positional_embeddings=learned, text_embed_dim=8, num_layers=layers,
        sample_height=sample_hw[0] if sample_hw else 8 if version == "1.0" else 40,
        sample_width=sample_hw[1] if sample_hw else 12 if version == "1.0" else 40,
        sample_frames=9 if version == "1.0" else 17, patch_size=2, patch_size_t=None if version == "1.0" else 2,
        max_text_seq_length=TEXT, use_rotary_positional_embeddings=rope,
    )
    with torch.no_grad():
        if learned:
            model.patch_embed.pos_embedding.normal_()
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm) and module.weight is not None:
                module.weight.copy_(1 + 0.5 * torch.randn_like(module.weight))
                module.bias.copy_(0.2 * torch.randn_like(module.bias))
    return model.eval()


# CogVideoX-2B's layout: no RoPE, a sincos table in the patch embedding on positions arange(n)/1.875 (h, w).
# Trained grid 2×15×15 tokens (5 frames, 30×30 latent): 15/1.875 = 8, so the stage it was "interpolated"
# from is a whole grid, 2×8×8, as 16×24 is for the real 2B's 30×45.
BASE_2B = (2, 15, 15)
STAGE_2B = (2, 8, 8)
SCALE_2B = (1.0, 1.875, 1.875)


def tiny_2b(layers: int = 2, seed: int = 0):
    """A CogVideoX-2B-layout transformer (2 heads of 16: a 32-channel sincos table), random weights, trained on BASE_2B."""
    torch.manual_seed(seed)
    model = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=HEAD_DIM, in_channels=4, out_channels=4, time_embed_dim=8,
        text_embed_dim=8, num_layers=layers, sample_width=30, sample_height=30, sample_frames=5, patch_size=2,
        max_text_seq_length=TEXT, use_rotary_positional_embeddings=False,
    )
    return model.eval()


@contextlib.contextmanager
def feeding_table(model, table, grid):
    """``model``'s patch embedding adds ``table`` ``(1, text + T*H*W, D)`` (None: nothing) at token ``grid``.

    diffusers' own path: the ``pos_embedding`` buffer and the ``sample_*`` sizes it is used for are set
    to ``table`` and ``grid``, so ``CogVideoXPatchEmbed.forward`` adds it as its own table; all restored
    afterwards. An oracle independent of the adapter's hooks.
    """
    embed = model.patch_embed
    t, h, w = grid
    saved = {k: getattr(embed, k) for k in ("pos_embedding", "sample_frames", "sample_height", "sample_width",
                                            "use_positional_embeddings", "use_learned_positional_embeddings")}
    frames = (latent_frames("1.0" if embed.patch_size_t is None else "1.5", t) - 1) * embed.temporal_compression_ratio + 1
    embed.sample_frames, embed.sample_height, embed.sample_width = frames, h * embed.patch_size, w * embed.patch_size
    if table is None:
        embed.use_positional_embeddings = embed.use_learned_positional_embeddings = False
    else:
        embed.pos_embedding = table
    try:
        yield model
    finally:
        for k, v in saved.items():
            setattr(embed, k, v)


def joint(video, text_rows: int = TEXT):
    """``(1, text_rows + N, D)``: zero text rows, then the video rows ``video (N, D)``."""
    return torch.cat([video.new_zeros(1, text_rows, video.shape[-1]), video[None]], dim=1)


def latent_frames(version: str, t: int) -> int:
    """Latent frames F the transformer takes for ``t`` temporal tokens."""
    return t if version == "1.0" else 2 * t


def inputs(version: str, grid, seed: int = 1, channels: int = 4, step: int = 500):
    """``(hidden_states (1, F, C, 2H, 2W), encoder_hidden_states (1, 3, 8), timestep (1,))`` for token ``grid``."""
    t, h, w = grid
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, latent_frames(version, t), channels, 2 * h, 2 * w, generator=g)
    text = torch.randn(1, TEXT, 8, generator=g)
    return hidden, text, torch.tensor([step])


def tiny_vae():
    """A 4-level ``AutoencoderKLCogVideoX`` (spatial scale 2³ = 8, temporal 4, 4 latent channels), 8 channels wide."""
    torch.manual_seed(0)
    return diffusers.AutoencoderKLCogVideoX(
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
        temporal_compression_ratio=4,
    ).eval()


def tiny_pipeline(transformer, scheduler=None):
    """diffusers' ``CogVideoXPipeline`` around ``transformer``: tiny VAE, no tokenizer or text encoder.

    diffusers tells CogVideoX 1.0 from 1.5 by the transformer's ``patch_size_t`` (None for 1.0): the
    same class builds linspace positions in a crop region for 1.0, integer positions sliced from a
    ``sample_height × sample_width`` table for 1.5, and pads 1.5's latent frames to a multiple of 2.
    """
    scheduler = scheduler if scheduler is not None else diffusers.CogVideoXDDIMScheduler()
    pipeline = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=tiny_vae(), transformer=transformer, scheduler=scheduler)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def pipeline_tables(model, version: str, grid):
    """The tables ``CogVideoXPipeline`` feeds ``model`` at token ``grid`` (its own method)."""
    t, h, w = grid
    pipeline = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=None, transformer=model, scheduler=None)
    return pipeline._prepare_rotary_positional_embeddings(16 * h, 16 * w, latent_frames(version, t), torch.device("cpu"))


def prompt_embeds(dim: int = 8, tokens: int = TEXT, seed: int = 2):
    """``(prompt_embeds, negative_prompt_embeds)``, each ``(1, tokens, dim)``: what a text encoder would give."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, tokens, dim, generator=g), torch.randn(1, tokens, dim, generator=g)


def generate(pipeline, *, seed: int = 0, steps: int = 2, output_type: str = "latent", **call):
    """``pipeline(**call)``'s frames: prompt embeddings passed in (guidance on), ``steps`` steps, seeded latents."""
    positive, negative = prompt_embeds()
    return pipeline(
        prompt_embeds=positive, negative_prompt_embeds=negative, num_inference_steps=steps,
        generator=torch.Generator().manual_seed(seed), output_type=output_type, **call,
    ).frames


def count_prompt_encodings(pipeline) -> list[int]:
    """A one-item list counting ``pipeline.encode_prompt`` calls (the first thing a call computes)."""
    count = [0]
    encode = pipeline.encode_prompt

    def counted(*args, **kwargs):
        count[0] += 1
        return encode(*args, **kwargs)

    pipeline.encode_prompt = counted
    return count


def run(model, version: str, grid, tables=None, *, seed: int = 1, step: int = 500) -> torch.Tensor:
    """``model``'s output ``(1, F, 4, 2H, 2W)`` at token ``grid`` and timestep ``step``, fed ``tables`` as ``image_rotary_emb``."""
    hidden, text, step = inputs(version, grid, seed, model.config.in_channels, step)
    with torch.no_grad():
        return model(hidden, text, step, image_rotary_emb=tables).sample


def per_token_axis(omega, n: int, n0: int, name: str, options: dict, axis: int):
    """One axis of ``n`` tokens trained on ``n0`` under strategy ``name``, written out in numpy float64 from
    the papers, for frequencies ``omega`` ``(K,)`` in radians per token (any order): ``(m (n,), omega' (K,))``.

    NTK divides a pair by ``s^(rank/(K−1))``, rank 0 the highest frequency; YaRN ramps over
    ``n0·ω/2π`` turns (α = 1, β = 4); RIFLEx changes the highest-frequency pair with no complete turn over
    ``n0 − 1`` (on time only under ``riflex_rule="reference"``, margin 0.9, past its whole period).
    """
    omega, m, s = np.array(omega, dtype=np.float64), np.arange(n, dtype=np.float64), n / n0
    if s <= 1:
        return m, omega
    if name == "interpolate":
        m = m / s
    if name == "ntk":
        rank = np.argsort(np.argsort(-omega, kind="stable"), kind="stable")
        omega = omega * s ** (-rank / (len(omega) - 1))
    if name == "yarn":
        gamma = np.clip((n0 * omega / (2 * math.pi) - 1) / 3, 0, 1)
        omega = (1 - gamma) * omega / s + gamma * omega
    reference = options.get("riflex_rule") == "reference"
    if name == "riflex" and (not reference or axis == 0):
        incomplete = np.flatnonzero(2 * math.pi / omega > n0 - 1)
        k = incomplete[np.argmax(omega[incomplete])]
        if not reference:
            omega[k] = min(omega[k], 2 * math.pi / (s * n0))
        elif s * n0 > round(2 * math.pi / omega[k]):
            omega[k] = 0.9 * 2 * math.pi / (s * n0)
    return m, omega
