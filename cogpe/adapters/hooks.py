"""``use_strategy``: a strategy's positions and frequencies inside a diffusers video transformer, removably.

.. code-block:: python

    from cogpe.adapters import use_strategy

    with use_strategy(pipe, "yarn"):          # or a Strategy, or {"rope_type": "yarn", "factor": 2.0}
        video = pipe(prompt, num_frames=97, height=960, width=1440).frames
    handle = use_strategy(pipe.transformer, "riflex", base_grid=(21, 30, 52))
    ...
    handle.remove()

What changes, and how (all of it undone by :meth:`StrategyHandle.remove` or leaving the ``with``):

- **Tables.** A forward pre-hook on the transformer reads the latent grid of ``hidden_states (B, F, C,
  H, W)`` and sets ``image_rotary_emb`` to the strategy's ``(cos, sin)`` for that grid
  (:func:`cogpe.adapters.tables.strategy_tables`), whatever tables the caller passed — the pipeline's
  own or none. Tables are built once per ``(grid, device)`` and kept in the handle.
- **YaRN's temperature** (peng2024yarn) is put on q, not on cos and sin: a forward hook on each
  attention's ``norm_q`` multiplies q by ``m²`` after qk-norm and before RoPE. Rotation is linear, so
  every logit — video↔video, video↔text and text↔text — is ``m²`` times the logit without it; scaling
  cos and sin by ``m`` gives ``m²`` only where both tokens are rotated, ``m`` between video and the
  unrotated text tokens (chapter 3, section 3.7) and 1 between text tokens. Where ``m = 1`` — every
  strategy but YaRN, and YaRN at ``s ≤ 1`` — the hook returns q untouched.
- **Pipeline calls** (``target`` a pipeline): the pipeline's class is swapped for a subclass of the same
  name whose ``__call__`` first refuses frame counts and sizes the model cannot take (CogVideoX 1.0:
  ``8N+1`` frames, 1.5: ``16N+1``; sizes multiples of VAE scale × patch size) and strategies that
  cannot place the grid, before the prompt is encoded; the class is restored on removal. Pipelines
  whose frame count comes from an input video (video-to-video, control) are checked for size only
  at the call, and by the transformer hook for the latent grid.

Nothing else is touched: no weights, buffers or attention processors. At the training grid every
strategy of ``ENCODINGS["rope"]`` gives the unpatched model's output bit for bit (tables in diffusers'
float32 arithmetic, :mod:`cogpe.adapters.tables`). ``"linspace-crop-diffusers"`` is what the
CogVideoX 1.0 pipeline feeds at every size; ``"extrapolate"`` the integer positions SAT and the
official LoRA trainers use (CogVideo #663); ``"interpolate"`` positions ``i/s`` (chapter 6).

One strategy per transformer: applying a second while one is active raises a RuntimeError naming the
active one; remove it first.
"""

from __future__ import annotations

import inspect
import weakref
from types import TracebackType
from typing import Any, Callable, Mapping

import torch

from .._checks import check_grid
from ..strategy import ENCODINGS, STRATEGIES, Strategy, StrategyLike, as_strategy
from .models import RopeModel, find_transformer, query_modules, read_model
from .tables import Grid, TableCache, Tables

__all__ = ["StrategyHandle", "use_strategy"]

# transformer -> its active handle; pipeline -> the handle that checks its calls. Weak both ways: a handle
# holds its transformer and pipeline, and lives as long as the hooks that call it.
_ACTIVE: weakref.WeakKeyDictionary[torch.nn.Module, weakref.ref[StrategyHandle]] = weakref.WeakKeyDictionary()
_CHECKED_CALLS: weakref.WeakKeyDictionary[object, weakref.ref[StrategyHandle]] = weakref.WeakKeyDictionary()
_CHECKED_CLASSES: dict[type, type] = {}  # pipeline class -> its checking subclass


def use_strategy(
    target: object, strategy: StrategyLike, *, base_grid: tuple[int, int, int] | None = None, **options: Any
) -> StrategyHandle:
    """Run ``target`` with ``strategy``'s RoPE positions and frequencies; returns a removable :class:`StrategyHandle`.

    ``target`` is a diffusers pipeline (anything with a ``.transformer``) or the transformer itself —
    so far ``CogVideoXTransformer3DModel`` with RoPE (CogVideoX 1.0 5B and 5B-I2V, 1.5).
    ``strategy`` is a name of ``ENCODINGS["rope"]`` with its ``options``, a
    :class:`cogpe.strategy.Strategy` or a transformers-style ``rope_scaling`` dict
    (:func:`cogpe.strategy.as_strategy`). ``base_grid = (T0, H0, W0)`` in tokens is the grid the
    strategy scales from; by default the config's (:func:`cogpe.adapters.models.trained_grid`:
    13×30×45 for CogVideoX 1.0; for 1.5 pass ``(11, 48, 85)`` to scale from its training resolution).

    Everything is checked here, before any computation: TypeError for a ``target`` that is not a
    supported transformer or a pipeline holding one, ValueError for a model without RoPE, a strategy
    the model cannot use, or a ``base_grid`` that is not three positive ints; RuntimeError if the
    transformer already runs a strategy. The handle is a context manager; see the module docstring
    for what it changes.
    """
    transformer, pipeline = find_transformer(target)
    model = read_model(transformer)
    chosen = _rope_strategy(strategy, options, model)
    base: Grid = model.base_grid if base_grid is None else _grid(check_grid("base_grid", base_grid, 3))
    chosen.check_split(model.split)
    active = _lookup(_ACTIVE, transformer)
    if active is not None:
        raise RuntimeError(
            f"this {type(transformer).__name__} already runs {active.strategy!r} (base_grid={active.base_grid}) "
            f"through use_strategy; call .remove() on that handle or leave its with-block before applying "
            f"{chosen!r}"
        )
    return StrategyHandle(transformer, pipeline, model, chosen, base)


def _lookup(registry: weakref.WeakKeyDictionary[Any, weakref.ref[StrategyHandle]], key: object) -> StrategyHandle | None:
    ref = registry.get(key)
    return None if ref is None else ref()


def _grid(values: tuple[int, ...]) -> Grid:
    return values[0], values[1], values[2]


def _rope_strategy(strategy: StrategyLike, options: Mapping[str, Any], model: RopeModel) -> Strategy:
    """``strategy`` as a :class:`Strategy` a RoPE model can use; ValueError naming the valid ones otherwise."""
    valid = ", ".join(map(repr, ENCODINGS["rope"]))
    name = strategy if isinstance(strategy, str) else getattr(strategy, "name", None)
    if isinstance(name, str) and name not in ENCODINGS["rope"]:
        why = " (it resamples a learned table; RoPE has none)" if name in STRATEGIES else ""
        raise ValueError(
            f"strategy={name!r} cannot be used by {model.name}, whose positions are RoPE tables{why}; "
            f"valid strategies: {valid}"
        )
    chosen = as_strategy(strategy, **options)
    if chosen.name not in ENCODINGS["rope"]:  # a rope_scaling dict naming one
        raise ValueError(f"strategy={chosen!r} cannot be used by {model.name} (RoPE); valid strategies: {valid}")
    return chosen


class StrategyHandle:
    """A strategy applied to one transformer by :func:`use_strategy`: a context manager with :meth:`remove`.

    ``strategy`` (a :class:`cogpe.strategy.Strategy`), ``base_grid`` (tokens), ``model``
    (:class:`cogpe.adapters.models.RopeModel`) and ``active`` say what runs; :meth:`tables` and
    :meth:`q_scale` what the transformer gets at a grid.
    """

    def __init__(
        self, transformer: torch.nn.Module, pipeline: object | None, model: RopeModel, strategy: Strategy, base_grid: Grid
    ) -> None:
        self.transformer = transformer
        self.pipeline = pipeline
        self.model = model
        self.strategy = strategy
        self.base_grid = base_grid
        self._cache = TableCache(strategy, base_grid, model.split, model.theta)
        self._q_scale = 1.0  # set by the transformer's pre-hook for the grid of the current call
        self._removers: list[Callable[[], None]] = []
        self._rotary_index, self._hidden_index = _forward_positions(transformer)
        self.active = True
        _ACTIVE[transformer] = weakref.ref(self)
        try:
            hook = transformer.register_forward_pre_hook(self._set_tables, with_kwargs=True)
            self._removers.append(hook.remove)
            for module in query_modules(transformer):
                self._removers.append(module.register_forward_hook(self._scale_q).remove)
            if pipeline is not None:
                self._removers.append(_check_calls(pipeline, self))
        except BaseException:
            self.remove()
            raise

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        return (
            f"StrategyHandle({self.strategy!r}, base_grid={self.base_grid}, "
            f"{type(self.transformer).__name__} ({self.model.name}), {state})"
        )

    def __enter__(self) -> StrategyHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def remove(self) -> None:
        """Restore the transformer (and pipeline) exactly as they were; calling it again does nothing."""
        while self._removers:
            self._removers.pop()()
        if _lookup(_ACTIVE, self.transformer) is self:
            del _ACTIVE[self.transformer]
        self._cache.clear()
        self.active = False

    def tables(self, grid: tuple[int, int, int], device: torch.device | str = "cpu") -> Tables:
        """The ``(cos, sin)`` the transformer gets at token ``grid``, each ``(T*H*W, head_dim)`` float32 (cached)."""
        return self._cache.get(_grid(check_grid("grid", grid, 3)), device)

    def q_scale(self, grid: tuple[int, int, int]) -> float:
        """The factor q is multiplied by at ``grid``: YaRN's ``m²``, else 1.0."""
        return self._cache.q_scale(_grid(check_grid("grid", grid, 3)))

    # --- hooks ------------------------------------------------------------------------------------------

    def _set_tables(
        self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        """Forward pre-hook: ``image_rotary_emb`` := the strategy's tables for the latents' grid."""
        hidden = args[self._hidden_index] if len(args) > self._hidden_index else kwargs.get("hidden_states")
        if not isinstance(hidden, torch.Tensor):
            return None  # the forward reports its own missing argument
        grid = self.model.token_grid(hidden.shape)
        tables = self._cache.get(grid, hidden.device)
        self._q_scale = self._cache.q_scale(grid)
        if len(args) > self._rotary_index:
            return args[: self._rotary_index] + (tables,) + args[self._rotary_index + 1 :], kwargs
        return args, {**kwargs, "image_rotary_emb": tables}

    def _scale_q(self, module: torch.nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor | None:
        """Forward hook on ``norm_q``: q × ``m²``; None (q untouched) where ``m² = 1``."""
        scale = self._q_scale
        return None if scale == 1.0 else output * scale

    def _check_call(self, signature: inspect.Signature, pipeline: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Refuse a pipeline call whose frames, size or grid the model or strategy cannot take (before it runs)."""
        try:
            bound = signature.bind(pipeline, *args, **kwargs)
        except TypeError:
            return  # the pipeline reports its own argument errors
        bound.apply_defaults()
        given = bound.arguments
        scale = int(getattr(pipeline, "vae_scale_factor_spatial", 8))
        temporal = int(getattr(pipeline, "vae_scale_factor_temporal", self.model.temporal_compression))
        # the pipelines' defaults for None (CogVideoXPipeline.__call__)
        height = given.get("height") or self.model.sample_hw[0] * scale
        width = given.get("width") or self.model.sample_hw[1] * scale
        if "num_frames" not in given:  # frames come from an input video: check the size only
            self.model.video_grid(1, height, width, vae_scale=scale)
            return
        frames = given["num_frames"] or self.model.sample_frames
        grid = self.model.video_grid(frames, height, width, vae_scale=scale, temporal_compression=temporal)
        self.strategy.axes(grid, self.base_grid, self.model.split, self.model.theta)


def _forward_positions(transformer: torch.nn.Module) -> tuple[int, int]:
    """Positional indices of ``image_rotary_emb`` and ``hidden_states`` in ``transformer.forward``."""
    names = list(inspect.signature(transformer.forward).parameters)
    missing = [n for n in ("image_rotary_emb", "hidden_states") if n not in names]
    if missing:
        raise TypeError(f"{type(transformer).__name__}.forward takes no {', '.join(missing)}; use_strategy cannot set its tables")
    return names.index("image_rotary_emb"), names.index("hidden_states")


def _check_calls(pipeline: object, handle: StrategyHandle) -> Callable[[], None]:
    """Swap ``pipeline``'s class for one whose ``__call__`` runs ``handle._check_call`` first; returns the undo."""
    original = type(pipeline)
    if not callable(pipeline):
        return lambda: None  # nothing calls it: the transformer's hook checks the latent grid
    checked = _CHECKED_CLASSES.get(original)
    if checked is None:
        call = original.__call__
        signature = inspect.signature(call)

        def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
            active = _lookup(_CHECKED_CALLS, self)
            if active is not None:
                active._check_call(signature, self, args, kwargs)
            return call(self, *args, **kwargs)

        namespace = {"__call__": __call__, "__module__": original.__module__, "__doc__": original.__doc__}
        checked = type(original.__name__, (original,), namespace)
        checked.__qualname__ = original.__qualname__
        _CHECKED_CLASSES[original] = checked
    setattr(pipeline, "__class__", checked)
    _CHECKED_CALLS[pipeline] = weakref.ref(handle)

    def undo() -> None:
        _CHECKED_CALLS.pop(pipeline, None)
        if type(pipeline) is checked:
            setattr(pipeline, "__class__", original)

    return undo
