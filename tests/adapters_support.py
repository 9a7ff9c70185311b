"""Tiny CogVideoX transformers and diffusers' own table code, for the tests of cogpe.adapters.

The transformers are built from configs (random weights, fixed seed, CPU, no download); the oracle
tables are diffusers' — ``get_3d_rotary_pos_embed`` and the pipeline's
``_prepare_rotary_positional_embeddings``, compiled from the installed pipeline module without
importing it (it imports ``transformers`` at the top) — called, never copied.
"""

from __future__ import annotations

import ast
import importlib.util
import types

import pytest
import torch

diffusers_embeddings = pytest.importorskip("diffusers.models.embeddings")
transformer_module = pytest.importorskip("diffusers.models.transformers.cogvideox_transformer_3d")

get_3d_rotary_pos_embed = diffusers_embeddings.get_3d_rotary_pos_embed
apply_rotary_emb = diffusers_embeddings.apply_rotary_emb
CogVideoXTransformer3DModel = transformer_module.CogVideoXTransformer3DModel

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


def load_pipeline_method(name: str):
    """``CogVideoXPipeline.<name>`` from the installed source, with the module's crop-region function."""
    spec = importlib.util.find_spec("diffusers.pipelines.cogvideo.pipeline_cogvideox")
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=spec.origin)
    nodes: list[ast.stmt] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_resize_crop_region_for_grid"]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "CogVideoXPipeline":
            nodes += [m for m in node.body if isinstance(m, ast.FunctionDef) and m.name == name]
    assert len(nodes) == 2, f"CogVideoXPipeline.{name} or get_resize_crop_region_for_grid not found"
    namespace = {"torch": torch, "get_3d_rotary_pos_embed": get_3d_rotary_pos_embed}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), spec.origin, "exec"), namespace)
    return namespace[name]


prepare_rotary = load_pipeline_method("_prepare_rotary_positional_embeddings")


def tiny_transformer(version: str = "1.0", *, rope: bool = True, learned: bool = False, layers: int = 2, seed: int = 0):
    """A 2-layer, 2-head (head_dim 16) CogVideoX transformer of ``version`` with random weights (see BASE).

    ``learned=True`` is CogVideoX-5B-I2V's layout: 8 input channels (latents and image latents) and a
    learned additive table (drawn at random here) on top of RoPE.
    LayerNorm weights and biases are drawn too (diffusers starts them at 1 and 0), so that qk-norm's
    affine part is not trivial.
    """
    torch.manual_seed(seed)
    model = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=HEAD_DIM, in_channels=8 if learned else 4, out_channels=4,
        time_embed_dim=8, use_learned_positional_embeddings=learned,
        text_embed_dim=8, num_layers=layers, sample_width=12 if version == "1.0" else 40,
        sample_height=8 if version == "1.0" else 40,
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


def latent_frames(version: str, t: int) -> int:
    """Latent frames F the transformer takes for ``t`` temporal tokens."""
    return t if version == "1.0" else 2 * t


def inputs(version: str, grid, seed: int = 1, channels: int = 4):
    """``(hidden_states (1, F, C, 2H, 2W), encoder_hidden_states (1, 3, 8), timestep)`` for token ``grid``."""
    t, h, w = grid
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, latent_frames(version, t), channels, 2 * h, 2 * w, generator=g)
    text = torch.randn(1, TEXT, 8, generator=g)
    return hidden, text, torch.tensor([500])


def pipeline_tables(model, version: str, grid):
    """The tables the CogVideoX pipeline feeds ``model`` at token ``grid`` (its own method, stand-in ``self``)."""
    t, h, w = grid
    owner = types.SimpleNamespace(vae_scale_factor_spatial=8, transformer=model)
    return prepare_rotary(owner, 16 * h, 16 * w, latent_frames(version, t), torch.device("cpu"))


def run(model, version: str, grid, tables=None, *, seed: int = 1) -> torch.Tensor:
    """``model``'s output ``(1, F, 4, 2H, 2W)`` at token ``grid``, fed ``tables`` as ``image_rotary_emb``."""
    hidden, text, step = inputs(version, grid, seed, model.config.in_channels)
    with torch.no_grad():
        return model(hidden, text, step, image_rotary_emb=tables).sample


class TinyPipeline:
    """What CogVideoXPipeline.__call__ does with positions, on a tiny transformer: defaults, latent
    frames (padded for 1.5), the pipeline's own tables, and one transformer call."""

    vae_scale_factor_spatial = 8
    vae_scale_factor_temporal = 4

    def __init__(self, transformer):
        self.transformer = transformer
        self.calls = 0

    def __call__(self, prompt=None, height=None, width=None, num_frames=None, num_inference_steps=1):
        config = self.transformer.config
        height = height or config.sample_height * self.vae_scale_factor_spatial
        width = width or config.sample_width * self.vae_scale_factor_spatial
        num_frames = num_frames or config.sample_frames
        frames = (num_frames - 1) // self.vae_scale_factor_temporal + 1
        pt = config.patch_size_t
        if pt is not None and frames % pt:
            frames += pt - frames % pt
        g = torch.Generator().manual_seed(1)
        latents = torch.randn(1, frames, 4, height // 8, width // 8, generator=g)
        text = torch.randn(1, TEXT, 8, generator=g)
        tables = prepare_rotary(self, height, width, frames, torch.device("cpu"))
        self.calls += 1
        with torch.no_grad():
            return self.transformer(
                hidden_states=latents, encoder_hidden_states=text, timestep=torch.tensor([500]), image_rotary_emb=tables
            ).sample
