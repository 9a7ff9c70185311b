"""Adapters: a strategy of :mod:`cogpe.strategy` run inside a diffusers video model (chapter 6).

- :mod:`cogpe.adapters.tables` — the ``(cos, sin)`` a strategy gives at a grid, in diffusers' layout
  and arithmetic, and their cache (no diffusers needed);
- :mod:`cogpe.adapters.models` — which diffusers models are supported (CogVideoX with RoPE: 1.0 5B,
  5B-I2V, 1.5) and what is read from their configs: default base grid, channel split, input rules.

diffusers is imported only when a model is adapted; ``import cogpe.adapters`` does not load it.
"""

from .models import SUPPORTED_TRANSFORMERS, RopeModel, trained_grid
from .tables import TableCache, strategy_tables

__all__ = ["SUPPORTED_TRANSFORMERS", "RopeModel", "TableCache", "strategy_tables", "trained_grid"]
