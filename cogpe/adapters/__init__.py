"""Adapters: a strategy of :mod:`cogpe.strategy` run inside a diffusers video model, removably (chapter 6).

.. code-block:: python

    from cogpe.adapters import use_strategy

    with use_strategy(pipe, "yarn"):
        video = pipe(prompt, num_frames=97, height=960, width=1440).frames

- :mod:`cogpe.adapters.tables` — the ``(cos, sin)`` a strategy gives at a grid, in diffusers' layout
  and arithmetic, and their cache (no diffusers needed);
- :mod:`cogpe.adapters.models` — which diffusers models are supported (CogVideoX with RoPE: 1.0 5B,
  5B-I2V, 1.5) and what is read from their configs: default base grid, channel split, input rules;
- :mod:`cogpe.adapters.hooks` — :func:`use_strategy` and its :class:`StrategyHandle`: the hooks that
  set the tables, put YaRN's temperature on q, check pipeline calls, and come off again.

diffusers is imported only when a model is adapted; ``import cogpe.adapters`` does not load it.
"""

from .hooks import StrategyHandle, use_strategy
from .models import SUPPORTED_TRANSFORMERS, RopeModel, trained_grid
from .tables import TableCache, strategy_tables

__all__ = ["SUPPORTED_TRANSFORMERS", "RopeModel", "StrategyHandle", "TableCache", "strategy_tables", "trained_grid", "use_strategy"]
