"""Cosmos's rotary embedding under a strategy: θ scaled per axis, time positions scaled by the frame rate.

Facts from diffusers 0.35–0.42 (``transformer_cosmos.py``, ``CosmosRotaryPosEmbed``; the same in both):

- **Split**: a head of ``d`` channels gives ``h = w = 2⌊d/6⌋`` and ``t = d − h − w`` (128 → 44, 42,
  42). **θ per axis**: ``10000 · rope_scale_a^(d_a/(d_a−2))`` — NTK's base change by the config's
  ``rope_scale`` (Cosmos 1.0 7B ``(2, 1, 1)``, 14B ``(2, 2, 2)``; Cosmos 2 2B ``(1, 4, 4)`` for images,
  ``(1, 3, 3)`` for video, 14B ``(20/24, 2, 2)``: diffusers' conversion script), frequencies
  ``θ_a^(−2j/d_a)`` in float32.
- **Positions** float32 ``0 … n−1`` from one ``arange`` of ``max(max_size / patch)`` (no axis may be
  longer); time ``m / fps · base_fps`` (``base_fps`` 24) when the call gives ``fps``, ``m`` without.
- **Layout** ``(N, d)``, in halves: ``[t h w | t h w]`` angles (``d/2`` each half), rotated as pairs
  ``(i, i + d/2)``. Built in ``forward`` as ``self.rope(hidden_states, fps=fps)`` from the latents
  ``(B, C, F, H, W)`` (after the padding mask is concatenated), patch ``(1, 2, 2)``; q and k pass
  ``norm_q``/``norm_k`` (per head) first; ``attn2`` (text) has no RoPE. Cosmos 1.0 adds a learned
  table per axis (``extra_pos_embed_type="learnable"``), which a strategy leaves as the model uses it.

What a strategy means here (our mapping): pair ``j`` turns ``ω_j = θ_a^(−2j/d_a)`` radians per token on
height and width and ``(base_fps / fps) · θ_t^(−2j/d_t)`` per latent frame in time (``fps`` the call's;
without one, ``θ_t^(−2j/d_t)``), and YaRN's turns ``n0·ω_j/2π`` and RIFLEx's periods ``2π/ω_j`` are
counted with these (:meth:`cogpe.strategy.Strategy.token_axes`) over the ``n0`` latent frames or pixels
of the base grid. The angles are ``g(m)·h(ω_j)``; an axis whose frequencies are kept is computed as
Cosmos computes it (float32 ``g(m) / fps · base_fps`` and float32 ``θ_a^(−2j/d_a)``), so that every
strategy at the base grid, and ``"extrapolate"`` (Cosmos's own rule) at every grid and frame rate, gives
its tables bit for bit; an axis with new frequencies is computed in float64 and rounded once. NTK at
scale ``s`` is Cosmos's own rule with ``rope_scale · s`` on that axis (its ω are geometric, base θ_a).
The crop strategies reproduce CogVideoX 1.0's pipeline and are refused. Under ``torch.compile`` the
tables, which follow each call's ``fps`` read on the host, are built eagerly (``torch.compiler.disable``:
a graph break; ``fullgraph=True`` fails).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch

from .._checks import check_grid
from ..rope import rope_frequencies
from ..strategy import Axes, Strategy
from .tables import Grid, Tables

__all__ = ["COSMOS_BASE_FPS", "axis_thetas", "call_fps", "cosmos_axes", "cosmos_split", "cosmos_tables",
           "table_builder", "token_frequencies"]

#: ``CosmosRotaryPosEmbed``'s default ``base_fps``, which ``CosmosTransformer3DModel`` keeps.
COSMOS_BASE_FPS = 24.0


def cosmos_split(head_dim: int) -> Grid:
    """``(t, h, w)`` channels of a head: ``h = w = 2⌊d/6⌋``, ``t = d − h − w``."""
    hw = head_dim // 6 * 2
    return head_dim - 2 * hw, hw, hw


def axis_thetas(split: Sequence[int], rope_scale: Sequence[float]) -> tuple[float, float, float]:
    """Per-axis θ: ``10000 · rope_scale_a^(d_a/(d_a−2))``, as ``CosmosRotaryPosEmbed`` computes it (Python floats)."""
    t, h, w = (10000.0 * (float(r) ** (d / (d - 2))) for d, r in zip(split, rope_scale))
    return t, h, w


def call_fps(value: object) -> float | None:
    """The ``fps`` a call passes as a positive float (None for None); ValueError otherwise."""
    if isinstance(value, torch.Tensor) and value.numel() >= 1 and bool((value == value.flatten()[0]).all()):
        value = value.flatten()[0].item()
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value)) and float(value) > 0:
        return float(value)
    raise ValueError(f"fps must be a positive number (one for the whole batch) or None, got {value!r}")


def token_frequencies(split: Sequence[int], rope_scale: Sequence[float], fps: float | None,
                      base_fps: float = COSMOS_BASE_FPS) -> tuple[torch.Tensor, ...]:
    """Per-axis radians per token ``(d_a/2,)`` float64 (module docstring)."""
    thetas = axis_thetas(split, rope_scale)
    time = 1.0 if fps is None else base_fps / fps
    return tuple(rope_frequencies(d, th) * (time if a == 0 else 1.0) for a, (d, th) in enumerate(zip(split, thetas)))


def cosmos_axes(strategy: Strategy, grid: Sequence[int], base_grid: Sequence[int], split: Sequence[int],
                rope_scale: Sequence[float], fps: float | None, base_fps: float = COSMOS_BASE_FPS) -> Axes:
    """Per-axis ``(positions (n,) in tokens, radians per token (d_a/2,))`` float64 under ``strategy``."""
    return strategy.token_axes(grid, base_grid, token_frequencies(split, rope_scale, fps, base_fps))


def cosmos_tables(strategy: Strategy, grid: Sequence[int], base_grid: Sequence[int], split: Sequence[int],
                  rope_scale: Sequence[float], fps: float | None, base_fps: float = COSMOS_BASE_FPS, *,
                  device: torch.device | str | None = None) -> Tables:
    """``(cos, sin)``, each ``(T*H*W, d)`` float32 in Cosmos's layout ``[t h w | t h w]`` (module docstring).

    >>> cos, sin = cosmos_tables(Strategy("yarn"), (4, 4, 6), (2, 4, 6), (4, 4, 4), (2.0, 1.0, 1.0), 30.0)
    >>> cos.shape, cos[:, :6].equal(cos[:, 6:])                  # 96 tokens; halves: the same angles twice
    (torch.Size([96, 12]), True)
    """
    grid = check_grid("grid", grid, 3)
    thetas = axis_thetas(split, rope_scale)
    blocks = []
    for a, ((g, f), kept, d) in enumerate(zip(cosmos_axes(strategy, grid, base_grid, split, rope_scale, fps, base_fps),
                                              token_frequencies(split, rope_scale, fps, base_fps), split)):
        if torch.equal(f, kept):  # Cosmos's own float32 operations
            p = g.to(torch.float32)
            if a == 0 and fps is not None:
                p = p / fps * base_fps
            f32 = 1.0 / (thetas[a] ** (torch.arange(0, d, 2, dtype=torch.float32)[: d // 2] / d))
            blocks.append(torch.outer(p, f32))  # (n, d/2) float32
        else:
            blocks.append(torch.outer(g, f))  # (n, d/2) float64, in tokens
    t, h, w = grid
    index = torch.arange(t * h * w)
    rows = (index // (h * w), index // w % h, index % w)  # token t·H·W + h·W + w -> its row per axis
    per_token = [blocks[a][rows[a]] for a in range(3)]  # 3 × (N, d_a/2)
    cos = torch.cat([b.cos().float() for b in per_token] * 2, dim=-1)  # (N, d): [t h w | t h w]
    sin = torch.cat([b.sin().float() for b in per_token] * 2, dim=-1)
    return cos.to(device), sin.to(device)


def table_builder(split: Sequence[int], rope_scale: Sequence[float], base_fps: float = COSMOS_BASE_FPS) -> Any:
    """What a :class:`~cogpe.adapters.tables.TableCache` keeps for Cosmos, per call ``fps``: its ``units``,
    ``(fps,)``, or ``()`` for a call without one."""

    def build(strategy: Strategy, grid: Grid, base_grid: Grid, device: torch.device, units: Sequence[float] = ()) -> Tables:
        return cosmos_tables(strategy, grid, base_grid, split, rope_scale, units[0] if units else None, base_fps,
                             device=device)

    return build
