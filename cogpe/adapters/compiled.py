"""The adapters under ``torch.compile``: tables fetched through one opaque operator, compiled code dropped.

Two facts of ``torch.compile`` (TorchDynamo) shape how :func:`cogpe.adapters.use_strategy` works on a
compiled transformer:

- **Dynamo does not guard on module hooks** (``torch._dynamo.config.skip_nnmodule_hook_guards``,
  True by default): code compiled before a strategy is applied never runs its hooks, and code compiled
  under a strategy keeps running them after it is removed. So applying or removing a strategy on a
  transformer that is compiled — a ``torch.compile(transformer)`` wrapper, or ``transformer.compile()``
  in place — or whose hooks were traced, discards the compiled code (:func:`discard_compiled_code`);
  the next call compiles again, with the hooks as they are then.
- **Building a table is host work**: it checks its inputs (finite positions; which pairs keep their
  frequency) with data-dependent operations that would break the graph, and it is cached by grid.
  Under compilation the hooks fetch tables through the operator ``cogpe::strategy_tables``
  (:func:`compiled_tables`), which the compiler treats as opaque: at run time it calls the handle's
  eager cache and returns a copy (the compiler may reuse an output's memory); ``cogpe::patch_table``
  does the same for the table CogVideoX's patch embedding adds (2B, 5B-I2V). So no graph breaks,
  ``fullgraph=True`` compiles, and no guard depends on what the cache holds: a new table does not
  recompile.

Nothing here imports diffusers; the operator is registered when this module is imported.
"""

from __future__ import annotations

import itertools
import math
import weakref
from typing import Any, Callable, Optional

import torch

from .tables import Grid, Tables

__all__ = [
    "compiled_patch_table", "compiled_tables", "discard_compiled_code", "is_compiled", "register_source",
    "unwrap_compiled",
]


# key -> the bound method that gives a handle's tables or a patch table, held weakly
_SOURCES: dict[int, weakref.WeakMethod[Callable[..., Any]]] = {}
_KEYS = itertools.count()


def register_source(source: Callable[..., Any]) -> int:
    """A key under which :func:`compiled_tables` or :func:`compiled_patch_table` call ``source`` (a bound
    method, held weakly: whatever keeps its object alive keeps the key valid)."""
    key = next(_KEYS)
    _SOURCES[key] = weakref.WeakMethod(source)
    return key


def _source(key: int) -> Callable[..., Any]:
    ref = _SOURCES.get(key)
    source = None if ref is None else ref()
    if source is None:
        raise RuntimeError(
            "the strategy whose tables this compiled code fetches was removed; call torch.compiler.reset() "
            "or apply the strategy again"
        )
    return source


@torch.library.custom_op("cogpe::strategy_tables", mutates_args=())
def _strategy_tables(key: int, phase: str, grid: list[int], device: torch.device, widths: list[int]) -> list[torch.Tensor]:
    """The tables the handle of ``key`` gives, copied: one ``(T*H*W, width)`` float32 tensor per width."""
    tables = _source(key)(phase, (int(grid[0]), int(grid[1]), int(grid[2])), device)
    return [table.clone() for table in tables]


@_strategy_tables.register_fake
def _(key: int, phase: str, grid: list[int], device: torch.device, widths: list[int]) -> list[torch.Tensor]:
    n = math.prod(int(g) for g in grid)
    return [torch.empty(n, int(width), dtype=torch.float32, device=device) for width in widths]


def compiled_tables(key: int, phase: str, grid: Grid, device: torch.device, widths: tuple[int, ...]) -> Tables:
    """The tables for ``grid`` — ``(cos, sin)``, or Mochi's ``(positions,)`` — from the source of ``key`` through
    ``cogpe::strategy_tables`` (opaque when compiled); ``widths`` their second dimensions."""
    return tuple(_strategy_tables(key, phase, list(grid), device, list(widths)))


@torch.library.custom_op("cogpe::patch_table", mutates_args=())
def _patch_table(
    key: int, grid: list[int], device: torch.device, dtype: torch.dtype, stored: Optional[torch.Tensor], rows: int,
    dim: int,
) -> torch.Tensor:
    """``(1, rows, dim)`` in ``dtype``: a copy of the table the patch tables of ``key`` add at ``grid``."""
    table = _source(key)((int(grid[0]), int(grid[1]), int(grid[2])), device, dtype, stored)
    if table is None:
        raise RuntimeError(f"no patch table replaces the module's own at grid {tuple(grid)}")
    return table.clone()


@_patch_table.register_fake
def _(
    key: int, grid: list[int], device: torch.device, dtype: torch.dtype, stored: Optional[torch.Tensor], rows: int,
    dim: int,
) -> torch.Tensor:
    return torch.empty(1, rows, dim, dtype=dtype, device=device)


def compiled_patch_table(
    key: int, grid: Grid, device: torch.device, dtype: torch.dtype, stored: torch.Tensor | None, rows: int, dim: int
) -> torch.Tensor:
    """The patch table ``(1, rows, dim)`` from the source of ``key`` through ``cogpe::patch_table`` (opaque when compiled)."""
    return _patch_table(key, list(grid), device, dtype, stored, rows, dim)


def unwrap_compiled(module: object) -> tuple[object, bool]:
    """``(module, False)``, or ``(the module it wraps, True)`` for a ``torch.compile(module)`` wrapper."""
    inner = getattr(module, "_orig_mod", None)
    if isinstance(module, torch.nn.Module) and type(module).__name__ == "OptimizedModule" and inner is not None:
        return inner, True
    return module, False


def is_compiled(module: torch.nn.Module) -> bool:
    """Whether ``module`` was compiled in place (``module.compile()``)."""
    return getattr(module, "_compiled_call_impl", None) is not None


def discard_compiled_code() -> None:
    """Drop every graph ``torch.compile`` has made in this process (hooks changed: module docstring)."""
    torch.compiler.reset()
