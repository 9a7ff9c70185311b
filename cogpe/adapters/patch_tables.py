"""The table CogVideoX's patch embedding adds, under a strategy: 2B's sincos table, 5B-I2V's learned one.

diffusers' ``CogVideoXPatchEmbed`` returns the text and video tokens ``embeds (B, text + T*H*W, D)``
plus a table ``(1, text + T*H*W, D)`` (:class:`cogpe.adapters.models.PatchTable`): ``embeds +
table.to(embeds.dtype)``, text rows first (zeros where diffusers builds the table), then one row per
video token. In diffusers 0.42:

- **CogVideoX-2B** (``use_rotary_positional_embeddings=False``) adds the 3-D sincos table (chapter 2)
  on positions ``arange(n) / scale``, ``scale = (1, 1.875, 1.875)`` (``temporal_`` and
  ``spatial_interpolation_scale``), float32 positions, float64 table — built once for the config's grid
  (a buffer) and afresh at every other grid with the same ``scale``: the trained, already divided
  positions continued (chapter 4).
- **CogVideoX 1.0 5B-I2V** (``use_learned_positional_embeddings=True``) adds a learned table on top of
  RoPE (CogVideo #367), stored for the config's grid only. At another height or width diffusers raises
  ``ValueError: It is currently not possible to generate videos at a different resolution…`` (CogVideo
  #732, ComfyUI #5199); at another frame count it adds a freshly built sincos table instead of the
  learned one.

Under a strategy (:func:`cogpe.adapters.use_strategy`):

- **sincos** — the positions are the strategy's ``g(m)`` (:meth:`cogpe.strategy.Strategy.positions`,
  ``"extrapolate"`` or ``"interpolate"``) divided by ``scale``. ``base_grid`` is the grid at which the
  model sees its own positions ``arange(n)/1.875`` — by default the config's (13×30×45 tokens at
  49×480×720), as for every other model. ``"extrapolate"`` is therefore diffusers' table at every
  grid. ``"interpolate"`` divides by ``s = n/n0`` as well on axes longer than the base: at 480×720 the
  positions stay ``arange/1.875``, at 960×1440 they become ``arange/3.75``. For ``H ≥ 30`` this is
  ``arange(H)/(H/16)``, index division from the 16×24-token training stage chapter 4 infers from
  ``30/1.875 = 16``: :func:`cogpe.strategy_tables.scaled_sincos_3d` with ``base_grid (13, 16, 24)``. On axes
  no longer than the base (``s ≤ 1``) both keep the model's own positions.
- **learned** (``learned_table``) — ``"resample"`` (the default): the video rows resampled to the grid
  by :func:`cogpe.resample.resample_video_table` (bicubic over (H, W), linear over T; fang2023eva02),
  the text rows as stored; ``"drop"``: no table (the model with its table zeroed); ``"keep"``:
  diffusers' behaviour, nothing hooked. Released weights: in huggingface/finetrainers issue 26 the
  learned table of CogVideoX-5B-I2V was found to be essentially zero (mean close to 0, very small
  standard deviation), generating without it gave numerically near-identical videos, and the CogVideo
  maintainers confirmed the part can be removed. Our default is ``"resample"``: it is the identity at
  the trained grid, keeps whatever the table holds elsewhere, and is the one strategy a learned table
  has (``cogpe.strategy.ENCODINGS["learned"]``).

Arithmetic, our rule: where the table would be the model's own — every strategy at the base grid,
``"extrapolate"`` everywhere, ``"resample"`` at the stored grid — nothing is done and the module runs
its own code, bit for bit whatever dtype its buffer was cast to. Elsewhere the table is built as
diffusers builds its own: per axis float32 positions ``arange(n) / divisor`` (``divisor = scale``
where the strategy keeps ``m``, ``s·scale`` where it gives ``m/s``), the sincos table in float64 on
the activations' device (the CPU for MPS), cast to the activations' dtype — so ``"interpolate"`` at
twice the grid is, bit for bit, diffusers' table with ``spatial_interpolation_scale`` doubled.

The hooks (:func:`hook_patch_embed`): a forward pre-hook reads the grid of ``image_embeds (B, F, C,
H, W)``; where the table changes it switches the module's own table off for this call
(``use_positional_embeddings`` and ``use_learned_positional_embeddings`` set to False), and a forward
hook — run even when ``forward`` raises — switches it back and returns ``embeds + table``, diffusers'
own addition.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Sequence

import torch

from .._checks import check_choice
from ..grids import arange_positions, divided_positions
from ..resample import resample_video_table
from ..sincos import sincos_3d
from ..strategy import Strategy
from .compiled import compiled_patch_table, register_source
from .models import PatchTable, RopeModel
from .tables import Grid

__all__ = ["LEARNED_TABLE", "PatchTables", "hook_patch_embed", "learned_table", "sincos_positions", "sincos_table"]

#: What :func:`cogpe.adapters.use_strategy` does with a learned table (``learned_table=``); the first is the default.
LEARNED_TABLE = ("resample", "drop", "keep")

Positions = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
_FLAGS = ("use_positional_embeddings", "use_learned_positional_embeddings")  # CogVideoXPatchEmbed's switches


def sincos_positions(
    strategy: Strategy, grid: Grid, base_grid: Grid, scale: Sequence[float], *, device: torch.device | None = None
) -> Positions | None:
    """Positions ``(T,), (H,), (W,)`` float32 of a sincos patch table under ``strategy``; None where all are the model's own.

    Per axis ``arange(n, float32) / divisor`` (module docstring): ``divisor = scale`` where the strategy
    keeps ``m``, ``s·scale`` where it gives ``m/s``.

    >>> t, h, w = sincos_positions(Strategy("interpolate"), (13, 60, 90), (13, 30, 45), (1.0, 1.875, 1.875))
    >>> torch.equal(h, torch.arange(60.0) / 3.75), sincos_positions(Strategy("extrapolate"), (13, 60, 90),
    ...                                                              (13, 30, 45), (1.0, 1.875, 1.875))
    (True, None)
    """
    own, positions = True, []
    for g, n, divisor, s in zip(strategy.positions(grid, base_grid), grid, scale, strategy.scales(grid, base_grid)):
        if not torch.equal(g, arange_positions(n)):
            if not torch.equal(g, divided_positions(n, s)):
                raise ValueError(f"{strategy!r} gives sincos positions other than m and m/s, which the patch table cannot take")
            own, divisor = False, divisor * s
        positions.append(divided_positions(n, divisor, dtype=torch.float32, device=device))  # diffusers' arithmetic
    return None if own else (positions[0], positions[1], positions[2])


def sincos_table(table: PatchTable, positions: Positions) -> torch.Tensor:
    """The joint table ``(1, text_rows + T*H*W, dim)`` float64: zero text rows, then :func:`cogpe.sincos.sincos_3d`."""
    video = sincos_3d(table.dim, positions=positions, dtype=torch.float64, device=positions[0].device)  # (T*H*W, D)
    joint = video.new_zeros(1, table.text_rows + video.shape[0], table.dim)  # (1, text + T*H*W, D)
    joint[0, table.text_rows :] = video
    return joint


def learned_table(table: PatchTable, stored: torch.Tensor, grid: Grid, how: str) -> torch.Tensor | None:
    """What replaces a learned table ``stored (1, text_rows + T0*H0*W0, dim)`` at ``grid``, in its dtype; None: itself.

    ``how="resample"``: text rows as stored, video rows :func:`cogpe.resample.resample_video_table`'d
    (None at the stored grid); ``"drop"``: zeros.
    """
    check_choice("learned_table", how, LEARNED_TABLE[:2])
    n0 = table.grid[0] * table.grid[1] * table.grid[2]
    if tuple(stored.shape) != (1, table.text_rows + n0, table.dim):
        raise ValueError(
            f"the patch embedding's pos_embedding has shape {tuple(stored.shape)}, but its config says (1, "
            f"{table.text_rows} + {n0}, {table.dim}) (text rows, then the {table.grid} grid); load the model's own table"
        )
    rows = table.text_rows + grid[0] * grid[1] * grid[2]
    if how == "drop":
        return stored.new_zeros(1, rows, table.dim)
    if grid == table.grid:
        return None
    video = resample_video_table(stored[0, table.text_rows :], table.grid, grid)  # (T*H*W, D)
    return torch.cat([stored[:, : table.text_rows], video[None]], dim=1)  # (1, text + T*H*W, D)


class PatchTables:
    """What one patch embedding adds under one strategy or ``learned_table`` option, per grid, cached.

    :meth:`changes` says whether the module's own table is replaced at a grid; :meth:`get` gives the
    replacement ``(1, text + T*H*W, D)`` in the activations' dtype, kept per ``(grid, device, dtype)``
    (and, for a learned table, per stored tensor and its version: loading new weights is seen).

    >>> from cogpe.adapters.models import PatchTable
    >>> tables = PatchTables(PatchTable("sincos", 32, 3, (1.0, 1.875, 1.875), (2, 4, 6)), (2, 4, 6),
    ...                      strategy=Strategy("interpolate"))
    >>> tables.changes((2, 4, 6)), tables.changes((2, 8, 12)), tables.get((2, 8, 12), "cpu", torch.float32).shape
    (False, True, torch.Size([1, 195, 32]))
    """

    def __init__(
        self, table: PatchTable, base_grid: Grid, *, strategy: Strategy | None = None, learned: str = "resample",
        size: int = 8,
    ) -> None:
        if (table.kind == "sincos") != (strategy is not None):
            raise TypeError("a sincos patch table needs a strategy, a learned one takes none")
        self.table, self.base_grid, self.strategy, self.size = table, base_grid, strategy, size
        self.learned = check_choice("learned_table", learned, LEARNED_TABLE[:2])
        self._tables: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()
        self._key = register_source(self.get)  # how compiled code fetches the tables

    def changes(self, grid: Grid) -> bool:
        """Whether the module's own table is replaced at ``grid``: a sincos table where ``"interpolate"``
        divides an axis of 2 tokens or more (``s > 1``; :func:`sincos_positions`), a learned one where it
        is dropped or the grid is not its own. Plain Python, so that compiled code decides it when traced."""
        if self.strategy is not None:
            scales = self.strategy.scales(grid, self.base_grid)
            return self.strategy.name == "interpolate" and any(s > 1 and n > 1 for s, n in zip(scales, grid))
        return self.learned == "drop" or grid != self.table.grid

    def table_now(
        self, grid: Grid, device: torch.device, dtype: torch.dtype, stored: torch.Tensor | None
    ) -> torch.Tensor | None:
        """:meth:`get`, through an opaque operator while ``torch.compile`` traces (:mod:`cogpe.adapters.compiled`)."""
        if not torch.compiler.is_compiling():
            return self.get(grid, device, dtype, stored)
        rows = self.table.text_rows + grid[0] * grid[1] * grid[2]
        return compiled_patch_table(self._key, grid, device, dtype, stored, rows, self.table.dim)

    def get(
        self, grid: Grid, device: torch.device | str, dtype: torch.dtype, stored: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """The table added at ``grid`` on ``device`` in ``dtype`` (None: the module's own); ``stored`` is a learned table."""
        device = torch.device(device)
        key: tuple[Any, ...] = (grid, device, dtype)
        if self.strategy is None:
            if stored is None:
                raise TypeError("a learned patch table needs the stored table (the module's pos_embedding)")
            key += (stored, stored._version)
        cached = self._tables.get(key)
        if cached is not None:
            self._tables.move_to_end(key)
            return cached
        with torch.inference_mode(False):
            table = self._build(grid, device, stored)
            if table is None:
                return None
            table = table.to(device=device, dtype=dtype)
        self._tables[key] = table
        while len(self._tables) > self.size:
            self._tables.popitem(last=False)
        return table

    def _build(self, grid: Grid, device: torch.device, stored: torch.Tensor | None) -> torch.Tensor | None:
        if self.strategy is None:
            return None if stored is None else learned_table(self.table, stored, grid, self.learned)
        build = torch.device("cpu") if device.type == "mps" else device  # float64 sincos: not on MPS
        positions = sincos_positions(self.strategy, grid, self.base_grid, self.table.scale, device=build)
        return None if positions is None else sincos_table(self.table, positions)

    def clear(self) -> None:
        """Drop every table."""
        self._tables.clear()


def hook_patch_embed(
    module: torch.nn.Module, model: RopeModel, tables: Callable[[], PatchTables]
) -> Callable[[], None]:
    """Hook ``module`` (a ``CogVideoXPatchEmbed``) to add ``tables()``'s table where it changes; returns the remover.

    ``tables`` is called once per forward (a handle may switch strategies between calls). Module
    docstring: the pre-hook switches the module's table off for the call, the forward hook
    (``always_call``) switches it back and adds the replacement.
    """
    pending: list[tuple[PatchTables, Grid, tuple[object, ...]]] = []  # the call in flight (a stack)

    def before(mod: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        image = args[1] if len(args) > 1 else kwargs.get("image_embeds")
        if not isinstance(image, torch.Tensor):
            return  # the forward reports its own missing argument
        current, grid = tables(), model.token_grid(image.shape)
        if current.changes(grid):
            pending.append((current, grid, tuple(getattr(mod, flag) for flag in _FLAGS)))
            for flag in _FLAGS:
                setattr(mod, flag, False)

    def after(mod: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> torch.Tensor | None:
        if not pending:
            return None
        current, grid, flags = pending.pop()
        for flag, value in zip(_FLAGS, flags):
            setattr(mod, flag, value)
        if not isinstance(output, torch.Tensor):
            return None  # forward raised: only the switches are restored
        stored = getattr(mod, "pos_embedding", None) if current.strategy is None else None
        table = current.table_now(grid, output.device, output.dtype, stored)
        return output if table is None else output + table  # (B, text + N, D) + (1, text + N, D), as diffusers adds

    removers = [
        module.register_forward_pre_hook(before, with_kwargs=True).remove,
        module.register_forward_hook(after, with_kwargs=True, always_call=True).remove,
    ]

    def remove() -> None:
        for remover in removers:
            remover()

    return remove
