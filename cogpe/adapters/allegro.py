"""Allegro's rotary embedding under a strategy: positions divided by its interpolation scales.

Facts from diffusers 0.35–0.42 (``transformer_allegro.py``, ``get_3d_rotary_pos_embed_allegro`` and
``apply_rotary_emb_allegro`` in ``embeddings.py``, ``AllegroAttnProcessor2_0``; the same in both):

- **The pipeline builds the tables** (``AllegroPipeline._prepare_rotary_positional_embeddings``) and
  the transformer passes them, as ``image_rotary_emb``, to every block's self-attention ``attn1``
  (the cross-attention ``attn2`` gets none). Called without them, the transformer rotates nothing.
- **Positions** per axis: ``linspace(0, n·(n−1)/n, n)`` in float32 — exactly ``0 … n−1`` — divided by
  the config's ``interpolation_scale_t``, ``_h``, ``_w`` (2.2, 2, 2 in the released config), so the
  angle of pair ``j`` at token ``m`` is ``(m / scale)·θ_j``, ``θ_j = 10000^(−2j/d)`` in float32.
- **Layout**: the head's ``d`` channels are three equal blocks ``[t | h | w]`` of ``d/3`` (``x.chunk(3)``),
  each rotated in halves — pairs ``(i, i + d/6)``, tables ``cat([cos, cos])`` — through per-axis tables
  ``(n, d/3)`` indexed by the token's ``(t, h, w)``: ``image_rotary_emb = (((cos_t, sin_t), (cos_h,
  sin_h), (cos_w, sin_w)), (pos_t, pos_h, pos_w))``, positions ``(1, N)`` long, token ``t·H·W + h·W + w``.
- Latents ``(B, C, F, H, W)``, patch ``(patch_size_t, patch_size, patch_size)`` = ``(1, 2, 2)``; no
  qk-norm (q is ``to_q``'s output). The trained grid is the config's ``sample_frames × sample_height ×
  sample_width`` (22 × 90 × 160 latent: 88 frames at 720 × 1280) in tokens, 22 × 45 × 80.

What a strategy means here (our mapping): a strategy is defined on tokens, so pair ``j`` of an axis
turns ``ω_j = θ_j / scale`` radians per token, and YaRN's turns ``n0·ω_j/2π`` and RIFLEx's periods
``2π/ω_j`` are counted with it (:meth:`cogpe.strategy.Strategy.token_axes`): with scale 2.2 time's
pairs turn 2.2 times slower than their θ_j say. The angles are ``g(m)·h(ω_j)``; an axis whose
frequencies are kept is computed as Allegro computes it — float32 ``g(m) / scale`` times float32
``θ_j`` — so that every strategy at the trained grid, and ``"extrapolate"`` (Allegro's own rule) at
every grid, gives Allegro's own tables bit for bit; an axis with new frequencies is computed in float64
and rounded once. NTK scales ``ω_j`` as it scales ``θ_j`` (the base times ``s^(d/(d−2))``). The crop
strategies reproduce CogVideoX 1.0's pipeline and are refused.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .._checks import check_grid
from ..rope import rope_frequencies
from ..strategy import Axes, Strategy
from .tables import Build, Grid, Tables

__all__ = ["allegro_axes", "allegro_rotary_emb", "allegro_tables", "token_frequencies", "table_builder"]


def token_frequencies(split: Sequence[int], scales: Sequence[float], theta: float = 10000.0) -> tuple[torch.Tensor, ...]:
    """Per-axis radians per token ``(d/2,)`` float64: ``θ_j / scale`` for the ``(t, h, w)`` channels ``split``."""
    return tuple(rope_frequencies(d, theta) / float(s) for d, s in zip(split, scales))


def allegro_axes(strategy: Strategy, grid: Sequence[int], base_grid: Sequence[int], split: Sequence[int],
                 scales: Sequence[float], theta: float = 10000.0) -> Axes:
    """Per-axis ``(positions (n,) in tokens, radians per token (d/2,))`` float64 under ``strategy`` (module docstring)."""
    return strategy.token_axes(grid, base_grid, token_frequencies(split, scales, theta))


def allegro_tables(strategy: Strategy, grid: Sequence[int], base_grid: Sequence[int], split: Sequence[int],
                   scales: Sequence[float], theta: float = 10000.0, *, device: torch.device | str | None = None) -> Tables:
    """``(cos, sin)``, each ``(T*H*W, d)`` float32: channels ``[t | h | w]``, each block ``cat([cos, cos])``.

    ``grid``, ``base_grid`` in tokens, ``split`` the three equal blocks, ``scales`` the config's
    ``interpolation_scale_t/h/w``. Kept axes in Allegro's float32 arithmetic, others float64 (module docstring).

    >>> cos, sin = allegro_tables(Strategy("yarn"), (4, 4, 6), (2, 4, 6), (4, 4, 4), (2.2, 2.0, 2.0))
    >>> cos.shape, cos[:, :2].equal(cos[:, 2:4])                 # 96 tokens; halves layout: [cos, cos]
    (torch.Size([96, 12]), True)
    """
    grid = check_grid("grid", grid, 3)
    blocks = []
    for (p, f), d, scale, kept in zip(allegro_axes(strategy, grid, base_grid, split, scales, theta), split, scales,
                                      token_frequencies(split, scales, theta)):
        if torch.equal(f, kept):  # Allegro's own arithmetic: float32 positions / scale, float32 θ_j
            angles = torch.outer(p.to(torch.float32) / float(scale), rope_frequencies(d, theta, dtype=torch.float32))
        else:
            angles = torch.outer(p, f)  # (n, d/2) float64, in tokens
        blocks.append(torch.cat([angles.cos(), angles.cos()], -1).float())  # (n, d): halves
        blocks.append(torch.cat([angles.sin(), angles.sin()], -1).float())
    t, h, w = grid
    index = torch.arange(t * h * w)  # token t·H·W + h·W + w -> its row on each axis
    rows = (index // (h * w), index // w % h, index % w)
    cos = torch.cat([blocks[2 * a][rows[a]] for a in range(3)], -1)  # (N, d)
    sin = torch.cat([blocks[2 * a + 1][rows[a]] for a in range(3)], -1)
    return cos.to(device), sin.to(device)


def allegro_rotary_emb(cos: torch.Tensor, sin: torch.Tensor, split: Sequence[int]) -> Any:
    """``(cos, sin)`` ``(N, d)`` as Allegro's ``image_rotary_emb``: per-axis ``(N, d/3)`` tables, each indexed
    by ``arange(N)`` ``(1, N)`` long (every token its own row)."""
    blocks, start = [], 0
    for d in split:
        blocks.append((cos[:, start:start + d].contiguous(), sin[:, start:start + d].contiguous()))
        start += d
    index = torch.arange(cos.shape[0], device=cos.device)[None]  # (1, N)
    return tuple(blocks), (index, index, index)


def table_builder(split: Sequence[int], scales: Sequence[float], theta: float = 10000.0) -> Build:
    """What a :class:`~cogpe.adapters.tables.TableCache` keeps for Allegro: :func:`allegro_tables` on the device."""

    def build(strategy: Strategy, grid: Grid, base_grid: Grid, device: torch.device) -> Tables:
        return allegro_tables(strategy, grid, base_grid, split, scales, theta, device=device)

    return build
