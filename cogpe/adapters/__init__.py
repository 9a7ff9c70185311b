"""Adapters: a strategy of :mod:`cogpe.strategy` run inside a diffusers video model, removably (chapters 6 and 9).

.. code-block:: python

    from cogpe.adapters import use_strategy

    with use_strategy(pipe, "yarn"):
        video = pipe(prompt, num_frames=97, height=960, width=1440).frames

- :mod:`cogpe.adapters.tables` — the ``(cos, sin)`` a strategy gives at a grid, in the model's layout
  and arithmetic, and their cache (no diffusers needed);
- :mod:`cogpe.adapters.models` — :class:`~cogpe.adapters.models.RopeModel`, what the adapters know of one transformer, and its
  grid arithmetic (latents and videos → tokens, and what is refused);
- :mod:`cogpe.adapters.presets` — named training grids (:data:`~cogpe.adapters.presets.BASE_GRIDS`), the default ``base_grid``
  of models whose config does not hold one (Wan, HunyuanVideo);
- :mod:`cogpe.adapters.patch_tables` — the table CogVideoX's patch embedding adds under a strategy
  (2B's sincos table, 5B-I2V's learned table resampled or dropped), and the hooks that add it;
- :mod:`cogpe.adapters.families` — which diffusers models are supported (CogVideoX 1.0 2B, 5B, 5B-I2V,
  1.5, ConsisID; Wan 2.1/2.2, Wan VACE, SkyReels-V2; HunyuanVideo, HunyuanVideo 1.5; Mochi; Allegro; LTX-Video; Cosmos) and
  what is read from their configs;
- :mod:`cogpe.adapters.mochi` — Mochi's centred, area-kept positions under a strategy, through its
  learned frequencies;
- ``cogpe.adapters.allegro`` — Allegro's positions divided by its interpolation scales: strategies
  counted in its radians per token;
- ``cogpe.adapters.ltx`` — LTX-Video's fractions of base sizes and rising frequencies: strategies
  counted in its radians per token at each call's frame rate;
- ``cogpe.adapters.cosmos`` — Cosmos's per-axis θ and fps-scaled time: strategies counted in its
  radians per token at each call's fps;
- :mod:`cogpe.adapters.schedule` — :class:`~cogpe.adapters.schedule.TimestepSchedule`: two strategies
  switched by the diffusion timestep (Lumina-Next's time-aware scaling);
- :mod:`cogpe.adapters.compiled` — what makes the adapters work under ``torch.compile`` (an opaque
  operator fetching the tables; compiled code discarded when hooks change);
- :mod:`cogpe.adapters.arguments` — what ``use_strategy``'s arguments mean for one model, checked first;
- :mod:`cogpe.adapters.calls` — pipeline calls checked before they run, removably;
- ``cogpe.adapters.table_hooks`` — the hooks that put each family's tables where its model reads them;
- :mod:`cogpe.adapters.hooks` — :func:`~cogpe.adapters.hooks.use_strategy` and its :class:`~cogpe.adapters.hooks.StrategyHandle`: the hooks that
  set the tables, put YaRN's temperature on q, check pipeline calls, and come off again.

diffusers is imported only when a model is adapted; ``import cogpe.adapters`` does not load it.
"""

from .families import SUPPORTED_TRANSFORMERS, trained_grid
from .hooks import StrategyHandle, use_strategy
from .models import PatchTable, RopeModel
from .patch_tables import LEARNED_TABLE
from .presets import BASE_GRIDS, GridPreset
from .schedule import TimestepSchedule
from .tables import TableCache, strategy_tables

__all__ = [
    "BASE_GRIDS",
    "SUPPORTED_TRANSFORMERS",
    "GridPreset",
    "LEARNED_TABLE",
    "PatchTable",
    "RopeModel",
    "StrategyHandle",
    "TableCache",
    "TimestepSchedule",
    "strategy_tables",
    "trained_grid",
    "use_strategy",
]
