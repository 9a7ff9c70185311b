"""Position encodings as modules: the tables of any grid under a strategy, built once and cached.

:class:`RotaryEmbedding3D` returns 3-D RoPE tables ``(cos, sin)`` (chapter 3) and
:class:`PositionTable` an additive table ``(N, D)`` — sincos (chapter 2) or learned and resampled
(chapter 5) — each for whatever grid it is called with, under a :class:`cogpe.strategy.Strategy`
relative to the training grid. Tables live in non-persistent buffers, so a checkpoint never fixes a
resolution; the cache key holds every argument the table depends on.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ._checks import check_choice, check_dim, check_factor, check_grid, check_split
from .resample import resample_video_table
from .rope import default_split
from .rope_complex import to_complex_table
from .sincos import sincos_3d
from .strategy import ENCODINGS, StrategyLike, as_strategy, check_encoding

__all__ = ["PositionTable", "RotaryEmbedding3D"]


def _resolve(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:<current>``, so a cached table on ``cuda:0`` matches a request for ``cuda``."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


class RotaryEmbedding3D(nn.Module):
    """3-D RoPE as a module: returns ``(cos, sin)``, each ``(T*H*W, head_dim)``, for any grid.

    ``strategy`` (a name with ``strategy_options``, a :class:`cogpe.strategy.Strategy` or a
    ``rope_scaling`` dict) chooses how positions and frequencies move when the grid differs from
    ``base_grid``; ``"extrapolate"`` with no base grid is CogVideoX-5B's plain ``arange``. Tables are
    rebuilt when any argument changes — grid, device or dtype; the strategy and base grid are fixed
    at construction — and reused otherwise.

    >>> rope = RotaryEmbedding3D(64)
    >>> cos, sin = rope((13, 30, 45))
    >>> cos.shape, rope((13, 30, 45))[0] is cos     # second call: cached
    (torch.Size([17550, 64]), True)
    """

    _anchor: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor

    def __init__(
        self,
        head_dim: int,
        theta: float = 10000.0,
        *,
        split: Sequence[int] | None = None,
        strategy: StrategyLike = "extrapolate",
        base_grid=None,
        **strategy_options,
    ):
        super().__init__()
        self.split = (
            default_split(head_dim) if split is None else check_split("split", split, head_dim, "head_dim")
        )
        self.head_dim = head_dim
        self.theta = check_factor("theta", theta)
        self.strategy = check_encoding("rope", as_strategy(strategy, **strategy_options))
        self.strategy.check_split(self.split)
        self.base_grid = None if base_grid is None else check_grid("base_grid", base_grid, 3)
        self._key: tuple | None = None
        self._complex_key: tuple | None = None
        self._complex: torch.Tensor | None = None  # complex_table's cache (not a buffer)
        # Follows .to()/.cuda() like any buffer: the default device of the tables.
        self.register_buffer("_anchor", torch.empty(0), persistent=False)
        self.register_buffer("cos", torch.empty(0), persistent=False)
        self.register_buffer("sin", torch.empty(0), persistent=False)

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, split={self.split}, theta={self.theta}, "
            f"strategy={self.strategy!r}, base_grid={self.base_grid}"
        )

    def _build_tables(self, grid, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        base = self.base_grid if self.base_grid is not None else grid
        return self.strategy.rope_tables(grid, base, self.split, self.theta, dtype=dtype, device=device)

    def _device(self, device) -> torch.device:
        return _resolve(torch.device(device)) if device is not None else self._anchor.device

    def forward(self, grid, *, device=None, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Tables for ``grid = (T, H, W)``: ``(cos, sin)``, each ``(T*H*W, head_dim)`` on ``device`` in ``dtype``.

        ``device`` defaults to the module's device (where ``.to()`` put it), ``dtype`` to float32.
        """
        grid = check_grid("grid", grid, 3)
        device = self._device(device)
        dtype = dtype or torch.float32
        key = (grid, device, dtype)
        # .to() may have moved or cast the cached tables: compare what they are, not only the key.
        if key != self._key or self.cos.device != device or self.cos.dtype != dtype:
            self.cos, self.sin = self._build_tables(grid, device, dtype)
            self._key = key
        return self.cos, self.sin

    def complex_table(self, grid, *, device=None, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
        """Tables for ``grid`` as one complex tensor ``cos θ + i·sin θ``: ``(T*H*W, head_dim/2)``, cached.

        For :func:`cogpe.rope_complex.apply_rope_complex` — the rotation then costs one complex
        multiply and no per-call conversion (chapter 8). ``dtype`` is complex64 (parts in float32) or
        complex128. Cached like :meth:`forward`, in a plain attribute rather than a buffer: ``.to()``
        leaves it alone and the next call for the new device rebuilds it.

        >>> rope = RotaryEmbedding3D(64)
        >>> table = rope.complex_table((13, 30, 45))
        >>> table.shape, table.dtype, rope.complex_table((13, 30, 45)) is table
        (torch.Size([17550, 32]), torch.complex64, True)
        """
        if dtype not in (torch.complex64, torch.complex128):
            raise TypeError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
        grid = check_grid("grid", grid, 3)
        device = self._device(device)
        key = (grid, device, dtype)
        if key != self._complex_key or self._complex is None:
            real = torch.float64 if dtype == torch.complex128 else torch.float32
            cos, sin = self._build_tables(grid, device, real)
            self._complex = to_complex_table(cos, sin, "interleaved", real)
            self._complex_key = key
        return self._complex


class PositionTable(nn.Module):
    """The additive position table ``(N, D)`` of a sincos or learned encoding, for any grid.

    - ``encoding="sincos"``: :func:`cogpe.sincos_3d` on the positions of ``strategy`` —
      ``"extrapolate"`` (``arange(n)``, the default) or ``"interpolate"`` (index division by
      ``s = n/n0`` on axes with ``s > 1``, :meth:`cogpe.strategy.Strategy.positions`);
    - ``encoding="learned"``: the parameter ``table`` ``(T0·H0·W0, D)`` (initialised to the sincos table
      of the base grid), resampled to a different grid (strategy ``"resample"``): bicubic over (H, W)
      and linear over T (``align_corners=False``, as timm's ``resample_abs_pos_embed``).

    Fixed tables are cached per (grid, device, dtype) in a non-persistent buffer: a state dict never
    holds one, so it loads at any resolution.

    >>> pe = PositionTable("sincos", 16, (2, 4, 4), strategy="interpolate")
    >>> pe((2, 8, 8)).shape
    torch.Size([128, 16])
    """

    _cache: torch.Tensor

    def __init__(self, encoding: str, dim: int, base_grid, theta: float = 10000.0, *, strategy: StrategyLike | None = None):
        super().__init__()
        self.encoding = check_choice("encoding", encoding, ("sincos", "learned"))
        default = ENCODINGS[encoding][0]
        self.strategy = check_encoding(encoding, as_strategy(default if strategy is None else strategy))
        self.dim = check_dim("dim", dim, multiple=16, why="cannot hold the 3-D sincos split")
        self.base_grid = check_grid("base_grid", base_grid, 3)
        self.theta = check_factor("theta", theta)
        if encoding == "learned":
            self.table = nn.Parameter(sincos_3d(dim, self.base_grid, theta=theta))  # (T0*H0*W0, D)
        self._key: tuple | None = None
        self.register_buffer("_cache", torch.empty(0), persistent=False)

    def extra_repr(self) -> str:
        return f"encoding={self.encoding!r}, strategy={self.strategy!r}, dim={self.dim}, base_grid={self.base_grid}"

    def forward(self, grid, *, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The table for ``grid = (T, H, W)``: ``(T*H*W, dim)``."""
        grid = check_grid("grid", grid, 3)
        if self.encoding == "learned":
            return self._resampled(grid).to(dtype)
        device = torch.device(device) if device is not None else self._cache.device
        key = (grid, device, dtype)
        if key != self._key or self._cache.device != device or self._cache.dtype != dtype:
            self._cache = self.strategy.sincos_table(self.dim, grid, self.base_grid, self.theta, dtype=dtype, device=device)
            self._key = key
        return self._cache

    def _resampled(self, grid) -> torch.Tensor:
        return resample_video_table(self.table, self.base_grid, grid)  # (T*H*W, D): bicubic in (H, W), linear in T
