"""The tables a strategy gives: 3-D RoPE and sincos at any grid, and YaRN's factor (chapter 6).

Thin functions over :class:`cogpe.strategy.Strategy`: :func:`scaled_axes` (per-axis positions and
frequencies), :func:`scaled_rope_3d` (CogVideoX-5B's RoPE layout), :func:`scaled_sincos_3d`
(CogVideoX-2B's sincos layout) and :func:`attention_scale`. ``strategy`` is a name of
:data:`cogpe.strategy.STRATEGIES` with its options, a ``Strategy``, or a transformers-style
``rope_scaling`` dict (:func:`cogpe.strategy.as_strategy`).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ._checks import check_factor, check_split
from .rope import default_split
from .sincos import sincos_3d  # noqa: F401 (the doctests' reference)
from .strategy import Axes, StrategyLike, as_strategy, check_encoding

__all__ = ["attention_scale", "scaled_axes", "scaled_rope_3d", "scaled_sincos_3d"]


def _head_split(head_dim: int, split: Sequence[int] | None) -> tuple[int, int, int]:
    return default_split(head_dim) if split is None else check_split("split", split, head_dim, "head_dim")


def scaled_axes(
    head_dim: int,
    grid,
    base_grid,
    strategy: StrategyLike = "extrapolate",
    theta: float = 10000.0,
    *,
    split: Sequence[int] | None = None,
    **options,
) -> Axes:
    """Per-axis ``(positions, freqs)`` of ``strategy``: three pairs of float64 tensors ``(n,)``, ``(d/2,)``.

    ``grid = (T, H, W)`` is the new grid, ``base_grid = (T0, H0, W0)`` the training one, ``split`` the
    ``(t, h, w)`` channel counts (default ``(hd/4, 3hd/8, 3hd/8)``); ``strategy`` and ``options`` as
    :func:`cogpe.strategy.as_strategy` reads them.

    >>> (t, ft), (h, fh), (w, fw) = scaled_axes(64, (13, 60, 90), (13, 30, 45), "interpolate")
    >>> t[:3].tolist(), h[:3].tolist(), fh.shape
    ([0.0, 1.0, 2.0], [0.0, 0.5, 1.0], torch.Size([12]))
    """
    strategy = check_encoding("rope", as_strategy(strategy, **options))
    return strategy.axes(grid, base_grid, _head_split(head_dim, split), check_factor("theta", theta))


def scaled_rope_3d(
    head_dim: int,
    grid,
    base_grid,
    strategy: StrategyLike = "extrapolate",
    theta: float = 10000.0,
    *,
    split: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
    **options,
) -> tuple[torch.Tensor, torch.Tensor]:
    """3-D RoPE tables ``(cos, sin)``, each ``(T*H*W, head_dim)``, for ``grid`` under ``strategy``.

    :meth:`cogpe.strategy.Strategy.rope_tables`: :meth:`~cogpe.strategy.Strategy.axes` chooses positions and frequencies,
    :func:`cogpe.rope.rope_3d` builds the table (CogVideoX-5B layout, angles in float64, returned in
    ``dtype`` on ``device``), and cos and sin are multiplied by :meth:`~cogpe.strategy.Strategy.attention` (YaRN's
    temperature) where it is not 1. That scales every logit by its square only when every token is
    rotated: in CogVideoX and HunyuanVideo the text tokens are not, so feeding these tables to such a
    model gives video↔text logits the factor once and text↔text none (chapter 6, section 6.4 (e));
    build them with ``attention_factor=1`` and scale the queries (:func:`attention_scale`) instead.

    >>> cos, sin = scaled_rope_3d(64, (26, 30, 45), (13, 30, 45), "riflex")
    >>> cos.shape
    torch.Size([35100, 64])
    """
    strategy = check_encoding("rope", as_strategy(strategy, **options))
    return strategy.rope_tables(grid, base_grid, _head_split(head_dim, split), check_factor("theta", theta), dtype=dtype, device=device)


def scaled_sincos_3d(
    dim: int,
    grid,
    base_grid,
    strategy: StrategyLike = "extrapolate",
    theta: float = 10000.0,
    *,
    dtype: torch.dtype = torch.float32,
    device=None,
    **options,
) -> torch.Tensor:
    """CogVideoX-2B's sincos table ``(T*H*W, dim)`` for ``grid`` under ``strategy`` (extrapolate or interpolate).

    ``"interpolate"`` is index division by ``s = n/n0`` on the axes with ``s > 1`` — CogVideoX-2B's
    ``/1.875`` when trained at 256×384 (16×24 tokens) and run at 480×720 (chapter 5).

    >>> torch.equal(scaled_sincos_3d(64, (13, 30, 45), (13, 16, 24), "interpolate"),
    ...             sincos_3d(64, (13, 30, 45), (1.0, 1.875, 1.875)))
    True
    """
    return as_strategy(strategy, **options).sincos_table(dim, grid, base_grid, theta, dtype=dtype, device=device)


def attention_scale(strategy: StrategyLike, grid, base_grid) -> float:
    """The factor :func:`scaled_rope_3d` multiplies cos and sin by: YaRN's temperature, else 1.0.

    Squared, it is the factor on the logits; on a model with unrotated text tokens, multiply the queries
    of every token by its square instead of the tables by it (chapter 6, section 6.4 (e)).

    >>> round(attention_scale("yarn", (26, 30, 45), (13, 30, 45)), 4)   # s = (2, 1, 1)
    1.0693
    >>> attention_scale("ntk", (26, 30, 45), (13, 30, 45))
    1.0
    """
    return as_strategy(strategy).attention(grid, base_grid)
