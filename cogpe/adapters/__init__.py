"""Adapters: a strategy of :mod:`cogpe.strategy` run inside a diffusers video model (chapter 6).

- :mod:`cogpe.adapters.tables` — the ``(cos, sin)`` a strategy gives at a grid, in diffusers' layout
  and arithmetic, and their cache (no diffusers needed).
"""

from .tables import TableCache, strategy_tables

__all__ = ["TableCache", "strategy_tables"]
