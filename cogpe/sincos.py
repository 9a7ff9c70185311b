"""Sinusoidal position encodings: 1-D, 2-D and CogVideoX-2B's 3-D table (chapter 2).

Per axis the code is ``f(p) = [sin(ω_0 p) … sin(ω_{d/2-1} p) | cos(ω_0 p) … cos(ω_{d/2-1} p)]`` with
``ω_k = theta**(-2k/d)`` (chapter 2, section 2.1): sin block first, then cos block — not interleaved.
Several axes are concatenated along channels. CogVideoX-2B's 3-D layout (SAT and diffusers alike):

    channels  [ t: dim/4 | w: 3dim/8 | h: 3dim/8 ]      (w before h — the spatial block is [w | h])
    rows      tokens (t, h, w) row-major -> (T*H*W, dim)

The table is added to the token embeddings; CogVideoX-2B uses positions ``arange(n)/1.875`` on h and w
(index division, chapter 5). Frequencies are computed in float64.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ._checks import check_dim, check_factor, check_factors, check_grid, check_positions
from .grids import grid_positions, positions_3d

__all__ = ["sincos_1d", "sincos_2d", "sincos_3d", "sincos_frequencies"]


def sincos_frequencies(dim: int, theta: float = 10000.0, *, device=None) -> torch.Tensor:
    """Frequencies ``ω_k = theta**(-2k/dim)``, k = 0 … dim/2-1: shape ``(dim // 2,)``, float64 (chapter 2, section 2.1).

    >>> sincos_frequencies(8)
    tensor([1.0000, 0.1000, 0.0100, 0.0010], dtype=torch.float64)
    """
    dim = check_dim("dim", dim, multiple=2, why="must be even: a sin and a cos channel per frequency")
    theta = check_factor("theta", theta)
    k = torch.arange(dim // 2, dtype=torch.float64, device=device)
    return 1.0 / theta ** (k / (dim / 2.0))


def sincos_1d(positions, dim: int, theta: float = 10000.0) -> torch.Tensor:
    """1-D table ``[sin(p·ω) | cos(p·ω)]``: positions ``(n,)`` -> ``(n, dim)``, float64 (chapter 2, section 2.1).

    Positions may be fractional (index division); float32 positions are used as given (widened
    exactly), which is how SAT and diffusers compute.

    >>> sincos_1d([0.0, 1.0], 4)
    tensor([[0.0000, 0.0000, 1.0000, 1.0000],
            [0.8415, 0.0100, 0.5403, 1.0000]], dtype=torch.float64)
    """
    dim = check_dim("dim", dim, multiple=2, why="must be even: a sin and a cos channel per frequency")
    positions = check_positions("positions", positions)
    omega = sincos_frequencies(dim, theta, device=positions.device)
    angles = torch.outer(positions.to(torch.float64), omega)  # (n, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (n, dim): [sin | cos]


def _split_sizes_2d(dim: int) -> int:
    return check_dim(
        "dim", dim, multiple=4, why="cannot split into w/h halves with an even number of channels each"
    ) // 2


def sincos_2d(
    dim: int,
    grid_hw,
    interpolation=(1.0, 1.0),
    theta: float = 10000.0,
    *,
    positions: Sequence[torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> torch.Tensor:
    """2-D table for an ``(H, W)`` grid: ``(H*W, dim)``, channels ``[w (dim/2) | h (dim/2)]``, rows (h, w) row-major.

    Positions ``arange(n)/interpolation`` per axis, or ``positions=(h (H,), w (W,))`` instead (not both).

    >>> sincos_2d(8, (2, 3)).shape
    torch.Size([6, 8])
    """
    half = _split_sizes_2d(dim)
    if positions is None:
        h, w = check_grid("grid_hw", grid_hw, 2)
        s_h, s_w = check_factors("interpolation", interpolation, 2)
        _, ph, pw = grid_positions((1, h, w), (1.0, s_h, s_w), device=device)
    else:
        if check_factors("interpolation", interpolation, 2) != (1.0, 1.0):
            raise ValueError("pass either positions or interpolation, not both (positions already include it)")
        ph, pw = (check_positions(f"positions[{i}] ({a})", p) for i, (a, p) in enumerate(zip("hw", positions)))
    # Cast the small per-axis tables, not the big one: the same values, no float64 (H, W, dim) intermediate.
    emb_w = sincos_1d(pw, half, theta).to(dtype)  # (W, dim/2)
    emb_h = sincos_1d(ph, half, theta).to(dtype)  # (H, dim/2)
    n_h, n_w = len(ph), len(pw)
    table = torch.cat(
        [emb_w[None, :, :].expand(n_h, n_w, half), emb_h[:, None, :].expand(n_h, n_w, half)], dim=-1
    )  # (H, W, dim)
    return table.reshape(n_h * n_w, dim)


def _split_sizes_3d(dim: int) -> tuple[int, int]:
    dim = check_dim(
        "dim",
        dim,
        multiple=16,
        why="cannot split into t/w/h = 1/4, 3/8, 3/8 with [sin | cos] halves of whole channels",
    )
    return dim // 4, dim // 8 * 3


def sincos_3d(
    dim: int,
    grid=None,
    interpolation=(1.0, 1.0, 1.0),
    theta: float = 10000.0,
    *,
    positions: Sequence[torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> torch.Tensor:
    """CogVideoX-2B's 3-D sincos table: ``(T*H*W, dim)`` for ``grid = (T, H, W)`` (chapter 2, section 2.5).

    Channels ``[t (dim/4) | w (3dim/8) | h (3dim/8)]``, each block ``[sin | cos]``; rows are tokens
    ``(t, h, w)`` row-major. Positions are ``arange(n) / interpolation[axis]`` with one factor per axis
    (SAT's ``time/height/width_interpolation``; CogVideoX-2B uses ``(1, 1.875, 1.875)``), or
    ``positions=(t (T,), h (H,), w (W,))`` instead (:func:`cogpe.grids.positions_3d`: the same rules as
    :func:`cogpe.rope.rope_3d`). Tables for a named strategy are :func:`cogpe.strategy_tables.scaled_sincos_3d`'s.
    Computed in float64, returned in ``dtype``.

    >>> table = sincos_3d(1920, (13, 30, 45), (1.0, 1.875, 1.875))   # CogVideoX-2B at 49 x 480 x 720
    >>> table.shape
    torch.Size([17550, 1920])
    """
    d_t, d_s = _split_sizes_3d(dim)
    positions = positions_3d(grid, interpolation, positions, device=device)
    pt, ph, pw = positions
    T, H, W = len(pt), len(ph), len(pw)
    # Computed in float64, cast per axis: the table is written once, directly in ``dtype`` (chapter 8).
    emb_t = sincos_1d(pt, d_t, theta).to(dtype)  # (T, dim/4)
    emb_w = sincos_1d(pw, d_s, theta).to(dtype)  # (W, 3dim/8)
    emb_h = sincos_1d(ph, d_s, theta).to(dtype)  # (H, 3dim/8)
    table = torch.cat(
        [
            emb_t[:, None, None, :].expand(T, H, W, d_t),
            emb_w[None, None, :, :].expand(T, H, W, d_s),
            emb_h[None, :, None, :].expand(T, H, W, d_s),
        ],
        dim=-1,
    )  # (T, H, W, dim)
    return table.reshape(T * H * W, dim)
