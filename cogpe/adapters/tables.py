"""The RoPE tables a strategy hands a video transformer, in diffusers' layout and arithmetic, and their cache.

A :class:`cogpe.strategy.Strategy` says per axis which positions ``g(m)`` and frequencies ``h(θ_j)``
the model sees (chapter 6, section 6.1). :func:`strategy_tables` turns them into the ``(cos, sin)``
pair diffusers' CogVideoX, Wan and HunyuanVideo transformers rotate q and k by: each ``(T*H*W,
head_dim)`` float32, channels ``[t | h | w]``, each block interleaved ``(θ0, θ0, θ1, θ1, …)`` (chapter 3,
section 3.6; Wan adds two unit axes, :meth:`cogpe.adapters.models.RopeModel.shaped`) — *without*
YaRN's temperature, which :mod:`cogpe.adapters.hooks` puts on q instead (chapter 3, section 3.7: text
tokens are not rotated, so a factor on cos and sin misses the video↔text logits).

Arithmetic, our rule: an axis that keeps RoPE's frequencies ``θ_j`` is computed as the model computes
it, so that wherever a strategy gives the model's own positions the tables are the model's bit for bit
(every strategy at the training grid, ``"interpolate"`` at twice it, ``"linspace-crop-diffusers"`` on
CogVideoX 1.0 everywhere, ``"extrapolate"`` on Wan and HunyuanVideo everywhere). ``kept_dtype`` names
that arithmetic:

- ``torch.float32`` — CogVideoX and HunyuanVideo (diffusers' ``get_3d_rotary_pos_embed`` and
  ``get_1d_rotary_pos_embed`` defaults): float32 positions, frequencies ``1/θ**(arange(0, d, 2)/d)``
  and angles, on the activations' device;
- ``torch.float64`` — Wan (``WanRotaryPosEmbed`` builds float64 angles on the CPU when the model is
  constructed, and keeps them as buffers): float64 throughout, built on the CPU and moved. (Where the
  MPS backend is available Wan uses float32 angles, and so does the adapter.)

An axis with new frequencies (NTK, YaRN, RIFLEx at ``s > 1``) has no diffusers counterpart and is
computed in float64 and rounded once, as :func:`cogpe.strategy_tables.scaled_rope_3d` does.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch

from ..rope import rope_3d, rope_frequencies
from ..strategy import Strategy

__all__ = ["Build", "Grid", "TableCache", "Tables", "strategy_tables"]

Grid = tuple[int, int, int]
#: ``(cos, sin)`` — or, for Mochi, whose tables also need its learned frequencies, ``(positions,)``.
Tables = tuple[torch.Tensor, ...]
#: ``build(strategy, grid, base_grid, device[, units])``: what a :class:`TableCache` keeps for a grid.
Build = Callable[..., Tables]


def strategy_tables(
    strategy: Strategy,
    grid: Sequence[int],
    base_grid: Sequence[int],
    split: Sequence[int],
    theta: float = 10000.0,
    *,
    kept_dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tables:
    """``(cos, sin)``, each ``(T*H*W, sum(split))`` float32 on ``device``: ``strategy`` at ``grid``, no temperature.

    ``grid = (T, H, W)`` and ``base_grid = (T0, H0, W0)`` in tokens, ``split`` the ``(t, h, w)``
    channels of a head. Axes keeping ``θ_j`` are computed in ``kept_dtype`` (float32: CogVideoX,
    HunyuanVideo; float64: Wan), the others in float64 (module docstring). Float64-kept tables, and
    every table for ``"mps"`` (no float64), are built on the CPU and moved.

    >>> cos, sin = strategy_tables(Strategy("interpolate"), (3, 8, 12), (3, 4, 6), (4, 6, 6))
    >>> cos.shape, cos.dtype
    (torch.Size([288, 16]), torch.float32)
    >>> from cogpe.rope import rope_3d                       # h, w positions i/2 in float32
    >>> half = [torch.arange(n, dtype=torch.float32) / s for n, s in ((3, 1), (8, 2), (12, 2))]
    >>> torch.equal(cos, rope_3d(16, positions=half, split=(4, 6, 6), freqs_dtype=torch.float32)[0])
    True
    """
    if kept_dtype not in (torch.float32, torch.float64):
        raise ValueError(f"kept_dtype must be torch.float32 or torch.float64, got {kept_dtype}")
    build = torch.device(device) if device is not None else torch.device("cpu")
    if build.type == "mps" or kept_dtype == torch.float64:
        build = torch.device("cpu")
    positions, freqs = [], []
    for (p, f), d in zip(strategy.axes(grid, base_grid, split, theta), split):  # (n,), (d/2,) float64
        if kept_dtype == torch.float32 and torch.equal(f, rope_frequencies(d, theta)):
            p, f = p.to(torch.float32), rope_frequencies(d, theta, dtype=torch.float32)
        positions.append(p.to(build))
        freqs.append(f.to(build))
    cos, sin = rope_3d(sum(split), positions=positions, freqs=freqs, split=split, dtype=torch.float32, device=build)
    if device is not None and torch.device(device) != build:
        cos, sin = cos.to(device), sin.to(device)
    return cos, sin


class TableCache:
    """One strategy's tables for one model, built once per ``(grid, device)`` and kept (the last ``size``).

    Tables are float32 whatever the activations' dtype (diffusers rotates in float32), so the dtype is
    not part of the key; ``build`` replaces :func:`strategy_tables` where a model's tables are made
    otherwise (Mochi: its positions, :func:`cogpe.adapters.mochi.mochi_positions`). :meth:`q_scale` is the factor q is multiplied by: YaRN's ``m²`` (every logit
    times ``m²``), else exactly 1.0.

    >>> cache = TableCache(Strategy("yarn"), (3, 4, 6), (4, 6, 6))
    >>> cache.get((3, 8, 12), "cpu") is cache.get((3, 8, 12), "cpu")
    True
    >>> round(cache.q_scale((3, 8, 12)), 4), cache.q_scale((3, 4, 6))   # (0.1·ln 2 + 1)², 1
    (1.1434, 1.0)
    """

    def __init__(
        self,
        strategy: Strategy,
        base_grid: Sequence[int],
        split: Sequence[int],
        theta: float = 10000.0,
        *,
        kept_dtype: torch.dtype = torch.float32,
        size: int = 8,
        build: Build | None = None,
    ) -> None:
        self.strategy = strategy
        self.build = build
        self.kept_dtype = kept_dtype
        self.base_grid: Grid = (int(base_grid[0]), int(base_grid[1]), int(base_grid[2]))
        self.split: Grid = (int(split[0]), int(split[1]), int(split[2]))
        self.theta = float(theta)
        self.size = size
        self._tables: OrderedDict[tuple[Grid, torch.device, tuple[float, ...] | None], Tables] = OrderedDict()
        self._q_scales: dict[Grid, float] = {}

    def get(self, grid: Grid, device: torch.device | str, units: tuple[float, ...] | None = None) -> Tables:
        """``(cos, sin)`` for ``grid`` on ``device``: :func:`strategy_tables`, built on the first request.

        ``units``, where a model's radians per token change with each call (LTX-Video's
        ``rope_interpolation_scale``, Cosmos's ``fps``), is passed to ``build`` and is part of the key."""
        key = (grid, torch.device(device), units)
        tables = self._tables.get(key)
        if tables is None:
            with torch.inference_mode(False):  # plain tensors, usable with autograd later, even if first built inside
                if self.build is not None:
                    extra = () if units is None else (units,)
                    tables = self.build(self.strategy, grid, self.base_grid, key[1], *extra)
                else:
                    tables = strategy_tables(self.strategy, grid, self.base_grid, self.split, self.theta,
                                             kept_dtype=self.kept_dtype, device=key[1])
            self._tables[key] = tables
            while len(self._tables) > self.size:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(key)
        return tables

    def q_scale(self, grid: Grid) -> float:
        """The factor on q (after qk-norm, before RoPE): ``Strategy.attention(grid, base_grid)²``."""
        scale = self._q_scales.get(grid)
        if scale is None:
            scale = self._q_scales[grid] = self.q_scale_of(grid)
        return scale

    def q_scale_of(self, grid: Grid) -> float:
        """:meth:`q_scale`, computed, not looked up (what compiled code uses: no guard on the cache)."""
        factor = self.strategy.attention(grid, self.base_grid)
        return 1.0 if factor == 1.0 else factor * factor

    def clear(self) -> None:
        """Drop every table."""
        self._tables.clear()
        self._q_scales.clear()
