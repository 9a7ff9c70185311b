"""Tiny Mochi transformers and pipelines, and Mochi's positions and tables from its published formula.

The model is diffusers' ``MochiTransformer3DModel`` built from a small config (random weights, its learned
frequencies drawn too, fixed seed, CPU, no download); the pipeline is ``MochiPipeline`` with a tiny VAE and
no tokenizer or text encoder (prompt embeddings are passed in). :func:`mochi_oracle` computes positions and
tables in numpy float64 from the formula (centred cells at the trained spacing ``sqrt(A / (H0·W0))``),
never through diffusers or :mod:`cogpe.adapters`; :func:`feeding` makes the *unpatched* model rotate by
given tables.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")  # diffusers' pipelines import it (test extra)
diffusers = pytest.importorskip("diffusers")

TEXT, TEXT_DIM = 3, 8
HEADS, HEAD_DIM = 2, 8
BASE = (3, 4, 6)  # the grid the tests scale from, in tokens: 13 frames (6× VAE), 64 × 96 pixels (8×, patch 2)
AREA = 192 * 192  # MochiRoPE's target area


def tiny_mochi(*, layers: int = 2, seed: int = 0):
    """A 2-head (head_dim 8) ``MochiTransformer3DModel``, patch 2, random weights and learned frequencies."""
    torch.manual_seed(seed)
    model = diffusers.MochiTransformer3DModel(
        patch_size=2, num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, num_layers=layers,
        pooled_projection_dim=16, in_channels=4, text_embed_dim=TEXT_DIM, time_embed_dim=4, max_sequence_length=TEXT,
    )
    with torch.no_grad():
        model.pos_frequencies.normal_(0.0, 0.2)  # diffusers starts them at 0: no rotation at all
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if "Norm" in type(module).__name__ and isinstance(weight, torch.Tensor):
                weight.copy_(1 + 0.5 * torch.randn_like(weight))
    return model.eval()


def inputs(grid, seed: int = 1):
    """``(hidden_states (1, 4, T, 2H, 2W), text (1, 3, 8), timestep (1,), mask (1, 3))`` for token ``grid``."""
    t, h, w = grid
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, 4, t, 2 * h, 2 * w, generator=g), torch.randn(1, TEXT, TEXT_DIM, generator=g),
            torch.tensor([500]), torch.ones(1, TEXT, dtype=torch.bool))


def run(model, grid, *, seed: int = 1) -> torch.Tensor:
    """``model``'s output ``(1, 4, T, 2H, 2W)`` on seeded latents at token ``grid``."""
    with torch.no_grad():
        return model(*inputs(grid, seed)).sample


@contextlib.contextmanager
def feeding(model, tables):
    """While inside: ``model.rope`` returns ``tables`` ``(cos, sin)``, each ``(N, heads, head_dim/2)``."""
    cos, sin = (torch.as_tensor(t, dtype=torch.float32) for t in tables)
    hook = model.rope.register_forward_hook(lambda module, args, output: (cos, sin))
    try:
        yield
    finally:
        hook.remove()


def mochi_oracle(model, grid, base, strategy: str):
    """``(positions (N, 3), cos, sin (N, heads, head_dim/2))`` in numpy float64 from the published formula.

    Time: ``m`` (``"extrapolate"``) or ``m/s`` (``"interpolate"`` where ``s = T/T0 > 1``). Height and
    width: cell centres ``(i − (n−1)/2) · step · σ0``, ``σ0 = sqrt(A / (H0·W0))``, ``step`` 1 or ``1/s``.
    """
    spacing = np.sqrt(AREA / (base[1] * base[2]))
    axes = []
    for i, (n, n0) in enumerate(zip(grid, base)):
        step = n0 / n if strategy == "interpolate" and n > n0 else 1.0
        m = np.arange(n, dtype=np.float64)
        axes.append(m * step if i == 0 else (m - (n - 1) / 2) * step * spacing)
    positions = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)  # (N, 3)
    freqs = model.pos_frequencies.detach().double().numpy()  # (3, heads, head_dim/2)
    angles = np.einsum("nd,dhf->nhf", positions, freqs)
    return positions, np.cos(angles), np.sin(angles)


def tiny_mochi_pipeline(transformer):
    """diffusers' ``MochiPipeline``: tiny ``AutoencoderKLMochi``, flow-matching Euler scheduler, no T5."""
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLMochi(
        latent_channels=4, out_channels=3, encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(32, 32, 32, 32), layers_per_block=(1, 1, 1, 1, 1),
    )
    pipeline = diffusers.MochiPipeline(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae.eval(),
                                       text_encoder=None, tokenizer=None, transformer=transformer)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def generate(pipeline, *, seed: int = 0, steps: int = 2, **call):
    """The latents ``pipeline(**call)`` returns after ``steps`` steps: prompt embeddings passed in, seeded noise."""
    g = torch.Generator().manual_seed(2)
    mask = torch.ones(1, TEXT, dtype=torch.long)
    prompt = dict(prompt_embeds=torch.randn(1, TEXT, TEXT_DIM, generator=g), prompt_attention_mask=mask,
                  negative_prompt_embeds=torch.randn(1, TEXT, TEXT_DIM, generator=g), negative_prompt_attention_mask=mask)
    return pipeline(**prompt, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed),
                    output_type="latent", **call).frames
