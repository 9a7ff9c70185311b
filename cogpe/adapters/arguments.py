"""What :func:`cogpe.adapters.use_strategy`'s arguments mean for one model, checked before any hook.

Each function takes an argument as the user gave it and the model's
:class:`~cogpe.adapters.models.RopeModel`, and returns what the handle runs — a
:class:`~cogpe.strategy.Strategy` the model's encoding can use, the base grids, the timestep schedule,
the learned-table option — or raises a ValueError / TypeError naming the argument, its value and what
would be valid.
"""

from __future__ import annotations

from typing import Any, Mapping

from .._checks import check_choice, check_grid
from ..strategy import ENCODINGS, STRATEGIES, Strategy, StrategyLike, as_strategy
from .models import RopeModel
from .patch_tables import LEARNED_TABLE
from .presets import preset_grids
from .schedule import TimestepSchedule
from .tables import Grid

__all__ = ["base_grids", "learned_option", "model_strategy", "timestep_schedule"]


def base_grids(base_grid: object, model: RopeModel) -> tuple[Grid, ...]:
    """The grids ``base_grid`` names for ``model`` (None: its defaults; a preset's; one grid), each within reach."""
    if base_grid is None:
        grids = model.base_grids
    elif isinstance(base_grid, str):
        grids = preset_grids(base_grid, model.family)
    else:
        t, h, w = check_grid("base_grid", base_grid, 3)
        grids = ((t, h, w),)
    if len(grids) > 1 and model.patch_table is not None:
        raise ValueError(
            f"base_grid={base_grid!r} names {len(grids)} trained grids, but {model.name}'s patch embedding adds a "
            "table built for one grid; pass one grid (T, H, W) or a single-size preset"
        )
    return tuple(model.check_reach(grid, "base_grid") for grid in grids)


def model_strategy(strategy: StrategyLike, options: Mapping[str, Any], model: RopeModel) -> Strategy:
    """``strategy`` as a :class:`~cogpe.strategy.Strategy` the model's encoding can use; ValueError naming the valid ones otherwise."""
    encoding = model.encoding
    allowed = ENCODINGS[encoding] if model.strategies is None else model.strategies
    valid = ", ".join(map(repr, allowed))
    if encoding == "sincos":
        what = f"CogVideoX-2B ({model.name}), whose positions are a sincos table added in its patch embedding"
    elif model.strategies is not None and "ntk" not in model.strategies:  # Mochi
        what = (f"{model.name}, whose RoPE frequencies are learned per head and mix t, h and w (so only its "
                "positions can change: strategies on the frequencies θ_j or CogVideoX's crop region have no meaning)")
    elif model.strategies is not None:
        what = (f"{model.name}, whose RoPE positions are not token indices (strategies act per token; "
                "CogVideoX's crop region has no meaning there)")
    else:
        what = f"{model.name}, whose positions are RoPE tables"
    name = strategy if isinstance(strategy, str) else getattr(strategy, "name", None)
    if isinstance(name, str) and name not in allowed:
        why = ""
        if name == "resample":
            why = f" (it resamples a learned table; {'a sincos table is computed' if encoding == 'sincos' else 'RoPE has none'})"
        elif name == "scale-shift" and encoding == "sincos":
            why = " (cogpe gives an additive table the positions m or m/s only; scale-shift is a free map for RoPE)"
        elif name in STRATEGIES and encoding == "sincos":
            why = (" (cogpe changes only the positions of an additive table; this strategy acts on RoPE's "
                   "frequencies or crop region)")
        raise ValueError(f"strategy={name!r} cannot be used by {what}{why}; valid strategies: {valid}")
    chosen = as_strategy(strategy, **options)
    if chosen.name not in allowed:  # a rope_scaling dict naming one
        raise ValueError(f"strategy={chosen!r} cannot be used by {what}; valid strategies: {valid}")
    return chosen


def timestep_schedule(
    early: Strategy, late: StrategyLike | None, watershed: float | None, model: RopeModel, pipeline: object | None
) -> TimestepSchedule | None:
    """The :class:`~cogpe.adapters.schedule.TimestepSchedule` of ``late`` and ``watershed``, None without them."""
    if late is None and watershed is None:
        return None
    if late is None or watershed is None:
        given, missing = ("late", "watershed") if watershed is None else ("watershed", "late")
        raise TypeError(
            f"{given}= needs {missing}=: a timestep schedule runs the strategy until the denoising progress "
            "1 − t/1000 reaches watershed and `late` from then on (Lumina-Next); give both, or neither"
        )
    later = model_strategy(late, {}, model)
    later.check_split(model.split)
    config = getattr(getattr(pipeline, "scheduler", None), "config", None)
    steps = config.get("num_train_timesteps") if isinstance(config, Mapping) else None
    return TimestepSchedule(early, later, watershed, 1000 if steps is None else int(steps))


def learned_option(value: object, model: RopeModel) -> str | None:
    """``learned_table`` checked against the model: the option for a learned table (default ``"resample"``), else None."""
    table = model.patch_table
    if table is None or table.kind != "learned":
        if value is not None:
            raise ValueError(
                f"learned_table={value!r} applies to a model with a learned position table (CogVideoX 1.0 5B-I2V); "
                f"this {model.name} has {'a sincos table' if table is not None else 'none'}: leave learned_table unset"
            )
        return None
    return LEARNED_TABLE[0] if value is None else check_choice("learned_table", value, LEARNED_TABLE)
