"""Tiny Wan and HunyuanVideo transformers and pipelines, and an independent way to feed them tables.

The models are diffusers' own classes built from small configs (random weights, fixed seed, CPU, no
download); their pipelines get tiny VAEs and no tokenizers or text encoders (prompt embeddings are
passed in). :func:`feeding` is the oracle's side door: it makes the *unpatched* model use given
``(cos, sin)`` tables — built by the tests with :mod:`cogpe.strategy` — by replacing its ``rope``
module's output in the layout diffusers' source gives it (Wan ``(1, N, 1, D)``, HunyuanVideo ``(N,
D)``), without anything from :mod:`cogpe.adapters`.
"""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch

pytest.importorskip("transformers")  # diffusers' pipelines import it (test extra)
diffusers = pytest.importorskip("diffusers")

FAMILIES = ("wan", "hunyuan")
TEXT = 3  # text tokens
TEXT_DIM = 8
BASE = (3, 4, 6)  # the grid the tests scale from, in tokens: 9 frames, 64 × 96 pixels (8× VAE, patch 2)
# Wan: head 20 → t = 20 − 4·⌊20/6⌋ = 8, h = w = 2·⌊20/6⌋ = 6. HunyuanVideo: rope_axes_dim given, uneven on
# purpose (a split read from the config, not the CogVideoX default (4, 6, 6)).
HEAD_DIM = {"wan": 20, "hunyuan": 16}
SPLIT = {"wan": (8, 6, 6), "hunyuan": (4, 4, 8)}
THETA = {"wan": 10000.0, "hunyuan": 256.0}


def _randomize_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Draw every norm's weight (diffusers starts them at 1), so that qk-norm's scale is not trivial."""
    with torch.no_grad():
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if "Norm" in type(module).__name__ and isinstance(weight, torch.Tensor):
                weight.copy_(1 + 0.5 * torch.randn_like(weight))
    return model.eval()


def tiny_wan(*, layers: int = 2, in_channels: int = 4, rope_max_seq_len: int = 1024, seed: int = 0):
    """A 2-head (head_dim 20) ``WanTransformer3DModel``, patch (1, 2, 2), random weights."""
    torch.manual_seed(seed)
    return _randomize_norms(diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=HEAD_DIM["wan"], in_channels=in_channels,
        out_channels=4, text_dim=TEXT_DIM, freq_dim=8, ffn_dim=16, num_layers=layers, rope_max_seq_len=rope_max_seq_len,
    ))


def tiny_hunyuan(*, layers: int = 1, seed: int = 0):
    """A 2-head (head_dim 16) ``HunyuanVideoTransformer3DModel``: ``layers`` dual- and single-stream blocks."""
    torch.manual_seed(seed)
    return _randomize_norms(diffusers.HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=HEAD_DIM["hunyuan"],
        num_layers=layers, num_single_layers=layers, num_refiner_layers=1, patch_size=2, patch_size_t=1,
        text_embed_dim=TEXT_DIM, pooled_projection_dim=8, rope_axes_dim=SPLIT["hunyuan"], rope_theta=THETA["hunyuan"],
    ))


def tiny(family: str, **kw):
    return tiny_wan(**kw) if family == "wan" else tiny_hunyuan(**kw)


def run(model, grid, *, seed: int = 1, step: int = 500) -> torch.Tensor:
    """``model``'s output ``(1, 4, T, 2H, 2W)`` on seeded latents at token ``grid`` and timestep ``step`` (text seeded too)."""
    t, h, w = grid
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, 4, t, 2 * h, 2 * w, generator=g)  # (B, C, F, H, W)
    text = torch.randn(1, TEXT, TEXT_DIM, generator=g)
    step = torch.tensor([step])
    with torch.no_grad():
        if isinstance(model, diffusers.WanTransformer3DModel):
            return model(hidden, step, text).sample
        pooled = torch.randn(1, 8, generator=g)
        mask = torch.ones(1, TEXT, dtype=torch.bool)
        return model(hidden, step, text, mask, pooled, guidance=torch.tensor([6000.0])).sample


@contextlib.contextmanager
def feeding(model, tables):
    """While inside: ``model.rope`` returns ``tables`` ``(cos, sin)``, each ``(N, D)``, in the model's layout."""
    cos, sin = tables
    if isinstance(model, diffusers.WanTransformer3DModel):
        cos, sin = cos.reshape(1, -1, 1, cos.shape[-1]), sin.reshape(1, -1, 1, sin.shape[-1])  # (1, N, 1, D)
    hook = model.rope.register_forward_hook(lambda module, args, output: (cos, sin))
    try:
        yield
    finally:
        hook.remove()


def own_tables(model, grid):
    """The tables ``model.rope`` itself builds at token ``grid``, as ``(N, D)``."""
    t, h, w = grid
    cos, sin = model.rope(torch.zeros(1, 4, t, 2 * h, 2 * w))
    return cos.reshape(t * h * w, -1), sin.reshape(t * h * w, -1)


def query_scaled(model, factor: float):
    """A copy of ``model`` whose qk-norms of q (and of the text stream's q) output ``factor`` times as much."""
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        for name, module in scaled.named_modules():
            if name.endswith(("attn1.norm_q", "attn.norm_q", "attn.norm_added_q")) and "context_embedder" not in name:
                module.weight.mul_(factor)
    return scaled


# --- pipelines --------------------------------------------------------------------------------------------


def tiny_wan_pipeline(transformer, transformer_2=None, boundary_ratio=None):
    """diffusers' ``WanPipeline``: tiny ``AutoencoderKLWan`` (8× space, 4× time), flow-matching Euler scheduler."""
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(base_dim=4, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                     temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    experts = {} if transformer_2 is None else dict(transformer_2=transformer_2, boundary_ratio=boundary_ratio)
    pipeline = diffusers.WanPipeline(  # Wan 2.2's second expert: diffusers >= 0.35
        tokenizer=None, text_encoder=None, vae=vae.eval(), scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0),
        transformer=transformer, **experts,
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def tiny_hunyuan_pipeline(transformer):
    """diffusers' ``HunyuanVideoPipeline``: tiny ``AutoencoderKLHunyuanVideo``, no Llama or CLIP encoder."""
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                                              norm_num_groups=2)
    pipeline = diffusers.HunyuanVideoPipeline(
        text_encoder=None, tokenizer=None, transformer=transformer, vae=vae.eval(),
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), text_encoder_2=None, tokenizer_2=None,
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def tiny_pipeline(family: str, transformer):
    return tiny_wan_pipeline(transformer) if family == "wan" else tiny_hunyuan_pipeline(transformer)


def generate(pipeline, *, seed: int = 0, steps: int = 2, **call):
    """The latents ``pipeline(**call)`` returns after ``steps`` steps: prompt embeddings passed in, seeded noise."""
    g = torch.Generator().manual_seed(2)
    embeds = torch.randn(1, TEXT, TEXT_DIM, generator=g)
    if isinstance(pipeline, diffusers.WanPipeline):
        prompt = dict(prompt_embeds=embeds, negative_prompt_embeds=torch.randn(1, TEXT, TEXT_DIM, generator=g))
    else:
        prompt = dict(prompt_embeds=embeds, pooled_prompt_embeds=torch.randn(1, 8, generator=g),
                      prompt_attention_mask=torch.ones(1, TEXT, dtype=torch.long))
    return pipeline(
        **prompt, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed), output_type="latent", **call,
    ).frames
