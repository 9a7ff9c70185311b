"""Shared test fixtures: diffusers as the oracle, and literal per-element SAT references.

diffusers is installed by the ``test`` extra (pinned) and only called, never copied. The SAT
references below are written from the formulas of ``sat/dit_video_concat.py`` as slow loops over
single elements, so that they cannot share a vectorisation bug with :mod:`cogpe`.
"""

from __future__ import annotations

import ast
import importlib.util
import math

import numpy as np
import pytest
import torch
from hypothesis import settings

settings.register_profile("cogpe", deadline=None, print_blob=True)
settings.load_profile("cogpe")


@pytest.fixture(scope="session")
def diffusers_embeddings():
    """``diffusers.models.embeddings`` (get_3d_sincos_pos_embed, get_3d_rotary_pos_embed, apply_rotary_emb)."""
    return pytest.importorskip("diffusers.models.embeddings")


@pytest.fixture(scope="session")
def compiled_available():
    """Skips, saying why, where ``torch.compile`` does not work (no C++ compiler, unsupported Python, …)."""
    try:
        torch.compile(lambda t: t * 2)(torch.ones(2))
    except Exception as err:
        pytest.skip(f"torch.compile does not work here: {type(err).__name__}: {err}")


def load_diffusers_function(module: str, name: str):
    """A top-level function of an installed diffusers module, loaded without importing the module.

    The CogVideoX pipeline module imports ``transformers`` at the top; the function we need from it
    (``get_resize_crop_region_for_grid``) is self-contained, so only its definition is compiled.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        pytest.skip(f"{module} is not installed")
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=spec.origin)
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert nodes, f"{name} not found in {spec.origin}"
    namespace: dict = {}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), spec.origin, "exec"), namespace)
    return namespace[name]


@pytest.fixture(scope="session")
def diffusers_crop_region():
    """diffusers' ``get_resize_crop_region_for_grid(src_hw, tgt_width, tgt_height)``."""
    return load_diffusers_function(
        "diffusers.pipelines.cogvideo.pipeline_cogvideox", "get_resize_crop_region_for_grid"
    )


# --- literal SAT formulas ------------------------------------------------------------------------


def sat_sincos_3d_literal(dim, T, H, W, s_t=1.0, s_h=1.0, s_w=1.0):
    """SAT ``get_3d_sincos_pos_embed`` element by element: ``(T*H*W, dim)`` float64.

    Channel c of token (t, h, w): c < dim/4 is the temporal block, then 3dim/8 channels for w, then
    3dim/8 for h; inside a block of size d the first d/2 channels are sin(p·ω_k), the next d/2
    cos(p·ω_k), with ω_k = 1/10000**(k/(d/2)) and p the float32 position index/interpolation.
    """
    d_t, d_s = dim // 4, dim // 4 * 3 // 2
    pos_t = np.arange(T, dtype=np.float32) / s_t
    pos_h = np.arange(H, dtype=np.float32) / s_h
    pos_w = np.arange(W, dtype=np.float32) / s_w
    out = np.empty((T * H * W, dim), dtype=np.float64)

    def value(p, c, d):
        k = c % (d // 2)
        omega = 1.0 / 10000 ** (k / (d / 2.0))
        angle = float(p) * omega
        return math.sin(angle) if c < d // 2 else math.cos(angle)

    for t in range(T):
        for h in range(H):
            for w in range(W):
                row = (t * H + h) * W + w
                for c in range(dim):
                    if c < d_t:
                        out[row, c] = value(pos_t[t], c, d_t)
                    elif c < d_t + d_s:
                        out[row, c] = value(pos_w[w], c - d_t, d_s)
                    else:
                        out[row, c] = value(pos_h[h], c - d_t - d_s, d_s)
    return out


def sat_rope_3d_literal(head_dim, T, H, W, theta=10000.0):
    """SAT ``Rotary3DPositionEmbeddingMixin`` element by element: ``(cos, sin)``, each ``(T*H*W, head_dim)``.

    Split dim_t = hd/4, dim_h = dim_w = 3hd/8 in the order [t | h | w]; channel c of an axis block of
    size d belongs to pair j = c // 2 with frequency 1/theta**(2j/d); positions are integer ``arange``.
    """
    dims = (head_dim // 4, head_dim // 8 * 3, head_dim // 8 * 3)
    cos = np.empty((T * H * W, head_dim))
    sin = np.empty((T * H * W, head_dim))
    for t in range(T):
        for h in range(H):
            for w in range(W):
                row = (t * H + h) * W + w
                c = 0
                for pos, d in zip((t, h, w), dims):
                    for local in range(d):
                        j = local // 2
                        angle = pos / theta ** (2 * j / d)
                        cos[row, c], sin[row, c] = math.cos(angle), math.sin(angle)
                        c += 1
    return cos, sin


def sat_rotate_literal(x, cos, sin):
    """SAT ``t*cos + rotate_half(t)*sin`` with the interleaved rotate_half, one pair at a time: float64."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    n, d = x.shape[-2:]
    for idx in np.ndindex(*x.shape[:-1]):
        row = idx[-1]
        for j in range(d // 2):
            a, b = x[idx + (2 * j,)], x[idx + (2 * j + 1,)]
            c, s = cos[row, 2 * j], sin[row, 2 * j]
            out[idx + (2 * j,)] = a * c - b * s
            out[idx + (2 * j + 1,)] = b * c + a * s
    return out


def as_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()
