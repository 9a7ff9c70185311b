"""``use_strategy``: a strategy's positions and frequencies inside a diffusers video transformer, removably.

.. code-block:: python

    from cogpe.adapters import use_strategy

    with use_strategy(pipe, "yarn"):          # or a Strategy, or {"rope_type": "yarn", "factor": 2.0}
        video = pipe(prompt, num_frames=97, height=960, width=1440).frames
    handle = use_strategy(pipe, "riflex", base_grid="wan-480p")     # a named preset, or (T0, H0, W0)
    handle = use_strategy(pipe, "interpolate", late="ntk", watershed=0.3)   # PI while noisy, then NTK
    ...
    handle.remove()

What changes, and how (all of it undone by :meth:`StrategyHandle.remove` or leaving the ``with``):

- **Tables**, where the model takes them (:mod:`cogpe.adapters.families`). CogVideoX: a forward
  pre-hook on ``transformer.patch_embed`` reads the grid of its latents ``(B, F, C, H, W)``, and one on
  each block's ``attn1`` sets ``image_rotary_emb`` to the strategy's ``(cos, sin)``, whatever the
  caller passed — the pipeline's own tables or none (hooks inside ``forward``, which ``torch.compile``
  traces with it; a pre-hook on the transformer only refuses latents it cannot take). Wan and
  HunyuanVideo build their tables inside ``forward`` with their ``rope`` module: a forward pre-hook on
  ``transformer.rope`` reads the grid of its input ``(B, C, F, H, W)`` (refusing latents the patch does
  not divide, and Wan grids beyond ``rope_max_seq_len``), and a forward hook replaces its output with
  the strategy's tables in the model's shape. Mochi's ``rope(pos_frequencies, T, H, W)`` is given the
  grid: a forward hook replaces its output with the strategy's positions through the learned
  frequencies it was passed (:mod:`cogpe.adapters.mochi`), a pre-hook on the transformer refuses
  latents the patch does not divide. Allegro's pipeline builds its tables: a pre-hook on the
  transformer reads the grid of its latents, one on each ``attn1`` sets ``image_rotary_emb``
  (``cogpe.adapters.allegro``). LTX-Video's ``rope(hidden_states, num_frames, height, width,
  rope_interpolation_scale, video_coords)``: a pre-hook reads the grid and the call's scale (frame rate
  dependent), a forward hook replaces its output (``cogpe.adapters.ltx``; under ``torch.compile``
  built eagerly, a graph break, so ``fullgraph=True`` fails); Cosmos's ``rope(hidden_states, fps=…)`` alike, with the call's ``fps``
  (``cogpe.adapters.cosmos``). Tables (:func:`cogpe.adapters.tables.strategy_tables`) are built once per ``(grid, device)`` — scaled from
  the trained grid that grid needs the least rescaling from, where the base is a preset of several
  sizes — and kept in the handle. A CogVideoX pipeline's own ``_prepare_rotary_positional_embeddings``
  returns the same tables while the strategy is on (the attentions' hooks would replace its output
  anyway), so that CogVideoX 1.5's pipeline runs beyond the table its config caps it at.
- **The patch embedding's table** (CogVideoX-2B's sincos table, its only position encoding;
  5B-I2V's learned table, on top of RoPE): hooks on ``transformer.patch_embed`` replace the table it
  adds where the strategy changes it — the 2B's positions ``g(m)/1.875``, the learned table resampled
  or dropped (``learned_table``) — and leave the module alone where it does not
  (:mod:`cogpe.adapters.patch_tables`).
- **A timestep schedule** (``late=``, ``watershed=``; Lumina-Next's time-aware scaling,
  :mod:`cogpe.adapters.schedule`): a forward pre-hook on the transformer, registered first, reads the
  ``timestep`` it receives and picks the strategy of the call; each strategy keeps its own tables.
- **YaRN's temperature** (peng2024yarn) is put on q, not on cos and sin: a forward hook on each module
  giving the queries of a RoPE attention after qk-norm and before RoPE
  (:func:`cogpe.adapters.families.query_modules`: ``norm_q``, and HunyuanVideo's text-stream
  ``norm_added_q``) multiplies them by ``m²``. Rotation is linear, so every logit — video↔video,
  video↔text and text↔text — is ``m²`` times the logit without it; scaling cos and sin by ``m`` gives
  ``m²`` only where both tokens are rotated, ``m`` between video and the unrotated text tokens (chapter
  3, section 3.7) and 1 between text tokens. (In Wan's self-attention every token is rotated, so there
  the two agree; q keeps one rule for every model.) Where ``m = 1`` — every strategy but YaRN, and YaRN
  at ``s ≤ 1`` — the hook returns q untouched.
- **Pipeline calls** (``target`` a pipeline): the pipeline's class is swapped for a subclass of the same
  name whose ``__call__`` first refuses frame counts and sizes the model cannot take (CogVideoX 1.0:
  ``8N+1`` frames, 1.5: ``16N+1``, Wan and HunyuanVideo: ``4N+1``; sizes multiples of VAE scale × patch
  size) and strategies that cannot place the grid, before the prompt is encoded
  (:mod:`cogpe.adapters.calls`); the class is restored on removal. Pipelines whose frame count comes
  from an input video (video-to-video, control) are checked for size only at the call, and by the
  transformer hooks for the latent grid. A pipeline with two transformers (Wan 2.2 A14B) has both
  adapted by one handle.

**Compiled models** (:mod:`cogpe.adapters.compiled`): ``target`` may be a ``torch.compile(transformer)``
wrapper, a pipeline holding one, or a transformer compiled in place (``transformer.compile()``), and a
model may be compiled after the strategy is applied; in every order the compiled model gives the eager
patched output (to the compiler's own rounding), with no graph break or recompilation that the
unpatched model does not have, and ``fullgraph=True`` compiles — but for LTX-Video and Cosmos, whose
tables follow each call's scale or ``fps`` and are built eagerly (graph breaks; the same output).
Applying or removing a strategy on a compiled transformer discards torch.compile's compiled code (it
does not see hooks added or removed later); the next call compiles again. A timestep schedule on a RoPE model compiles one graph for both phases
(the phase is decided on the timestep's device, :meth:`cogpe.adapters.schedule.TimestepSchedule.is_early`).

**Half precision**: the tables are float32, as the models' own are when loaded with their float32
modules kept; where a Wan or HunyuanVideo model was cast whole, they take the dtype of the model's own
tables. At the trained grid bfloat16 and float16 models give their own output bit for bit.

Nothing else is touched: no weights, buffers or attention processors (the patch embedding's two
switches, ``use_positional_embeddings`` and ``use_learned_positional_embeddings``, are off only while a
call whose table is replaced runs). At the training grid every strategy of ``ENCODINGS["rope"]`` — and
of ``ENCODINGS["sincos"]`` on the 2B — gives the unpatched model's output bit for bit (tables in the
model's own arithmetic, :mod:`cogpe.adapters.tables`). ``"linspace-crop-diffusers"`` is what the CogVideoX 1.0
pipeline feeds at every size; ``"extrapolate"`` the integer positions of SAT, the official CogVideoX
LoRA trainers (CogVideo #663), CogVideoX 1.5, Wan and HunyuanVideo; ``"interpolate"`` positions
``i/s`` (chapter 6).

One strategy per transformer: applying a second while one is active raises a RuntimeError naming the
active one; remove it first.

Not covered (refused or untested): diffusers' context parallelism, which splits the output of Wan's
``rope`` across devices before the adapter's forward hook replaces it with whole tables; the
transformers diffusers builds on Wan's or HunyuanVideo's RoPE under other class names but Wan VACE,
SkyReels-V2 and HunyuanVideo 1.5 (Wan Animate, HunyuanVideo Framepack), and the other RoPE video
transformers (LTX-2: :mod:`cogpe.adapters.families` says why), which
:func:`use_strategy` refuses by class;
a strategy applied to a transformer while a ``torch.compile`` wrapper of it, compiled earlier and not
given to :func:`use_strategy`, is called instead (nothing leads from the transformer to its wrapper):
give the wrapper, or call ``torch.compiler.reset()``.
"""

from __future__ import annotations

import inspect
import weakref
from types import TracebackType
from typing import Any, Callable, Mapping

import torch

from .._checks import check_grid
from ..strategy import Strategy, StrategyLike
from .allegro import allegro_axes
from .arguments import base_grids, learned_option, model_strategy, timestep_schedule
from .calls import call_grid, check_calls, pipeline_tables, vae_factors
from .compiled import compiled_tables, discard_compiled_code, register_source
from .cosmos import cosmos_axes
from .families import find_transformers, query_modules, read_model, table_builder
from .ltx import ltx_axes
from .mochi import mochi_positions, mochi_tables
from .models import RopeModel
from .patch_tables import LEARNED_TABLE, PatchTables, hook_patch_embed
from .presets import base_grid_for
from .schedule import PHASES, TimestepSchedule
from .table_hooks import TableHooks
from .tables import Grid, TableCache, Tables

__all__ = ["StrategyHandle", "use_strategy"]

# transformer -> its active handle. Weak both ways: a handle holds its transformers and pipeline, and
# lives as long as the hooks that call it.
_ACTIVE: weakref.WeakKeyDictionary[torch.nn.Module, weakref.ref[StrategyHandle]] = weakref.WeakKeyDictionary()


def use_strategy(
    target: object,
    strategy: StrategyLike,
    *,
    base_grid: tuple[int, int, int] | str | None = None,
    late: StrategyLike | None = None,
    watershed: float | None = None,
    learned_table: str | None = None,
    **options: Any,
) -> StrategyHandle:
    """Run ``target`` with ``strategy``'s RoPE positions and frequencies; returns a removable :class:`StrategyHandle`.

    ``target`` is a diffusers pipeline (anything with a ``.transformer``) or the transformer itself:
    ``CogVideoXTransformer3DModel`` (CogVideoX 1.0 2B, 5B and 5B-I2V, 1.5), ``ConsisIDTransformer3DModel``,
    ``WanTransformer3DModel`` (Wan 2.1, 2.2), ``WanVACETransformer3DModel``,
    ``SkyReelsV2Transformer3DModel``, ``HunyuanVideoTransformer3DModel``,
    ``HunyuanVideo15Transformer3DModel``, ``MochiTransformer3DModel``, ``AllegroTransformer3DModel``,
    ``LTXVideoTransformer3DModel`` or ``CosmosTransformer3DModel`` (these three count turns per token:
    ``cogpe.adapters.allegro``, ``cogpe.adapters.ltx``, ``cogpe.adapters.cosmos``). ``strategy`` is a
    name of ``ENCODINGS["rope"]`` (``ENCODINGS["sincos"]`` for CogVideoX-2B and, its frequencies being
    learned, Mochi: ``"extrapolate"``, ``"interpolate"``; :mod:`cogpe.adapters.mochi`) with its ``options``, a :class:`cogpe.strategy.Strategy` or a transformers-style
    ``rope_scaling`` dict (:func:`cogpe.strategy.as_strategy`).

    ``late`` and ``watershed`` (together) make it a timestep schedule, Lumina-Next's time-aware scaling
    (:mod:`cogpe.adapters.schedule`): ``strategy`` while the denoising progress ``1 − t/1000`` of the
    timestep the transformer receives is below ``watershed``, ``late`` (a name, Strategy or dict; its
    options inside it) from then on — e.g. ``use_strategy(pipe, "interpolate", late="ntk",
    watershed=0.3)``. ``1000`` is the pipeline scheduler's ``num_train_timesteps`` where it has one.

    ``learned_table`` — for a model with a learned position table (CogVideoX 1.0 5B-I2V) only — is what
    becomes of it: ``"resample"`` (default; bicubic over (H, W), linear over T, so that the model runs
    at any size), ``"drop"`` (no table) or ``"keep"`` (diffusers' behaviour: a ValueError at another
    size); :mod:`cogpe.adapters.patch_tables` says why resample is the default.

    ``base_grid`` is what the strategy scales from: ``(T0, H0, W0)`` in tokens, one grid for every call,
    or the name of a preset of :data:`cogpe.adapters.presets.BASE_GRIDS` for the model's family
    (``"wan-480p"``, ``"hunyuanvideo-720p"``, ``"cogvideox1.5-5b"``, …), whose trained sizes each call
    picks from: the one its grid needs the least rescaling from
    (:func:`cogpe.adapters.presets.base_grid_for`), so that every trained size, portrait or landscape,
    runs unrescaled. By default: CogVideoX's config grid (:func:`cogpe.adapters.families.trained_grid`:
    13×30×45 for 1.0; for 1.5 its ``sample_height × sample_width`` slice table, and for 1.5-I2V that
    grid and its transpose — pass ``"cogvideox1.5-5b"`` to scale from its 768×1360 training size), and
    every training size of the model for Wan (``"wan-14b"``; ``"wan-480p"`` for the 1.3B,
    ``"wan2.2-5b-720p"`` for TI2V-5B), HunyuanVideo (``"hunyuanvideo"``) and Mochi (``"mochi"``: 163 × 480 × 848).
    ``StrategyHandle.base_grids`` lists them, ``StrategyHandle.base_grid_at(grid)`` says which one a
    grid scales from.

    Everything is checked here, before any computation: TypeError for a ``target`` that is not a
    supported transformer or a pipeline holding one, ValueError for a strategy the model cannot use
    (naming those it can), a ``base_grid`` that is not three positive ints or a preset of the model's
    family, one beyond Wan's ``rope_max_seq_len``, a ``watershed`` outside ``[0, 1]``, or a
    ``learned_table`` that is not one of ``"resample"``, ``"drop"``, ``"keep"`` or is given for a model
    without a learned table; TypeError for ``late`` without ``watershed`` or the reverse; RuntimeError
    if a transformer already runs a strategy. The handle is a context manager; see the module docstring for what it changes.
    """
    transformers, pipeline, compiled = find_transformers(target)
    model = read_model(transformers[0])
    for other in transformers[1:]:
        if read_model(other) != model:
            raise ValueError(
                f"the transformers of {type(pipeline).__name__} differ in their RoPE ({model} vs "
                f"{read_model(other)}); adapt each transformer on its own"
            )
    chosen = model_strategy(strategy, options, model)
    schedule = timestep_schedule(chosen, late, watershed, model, pipeline)
    learned = learned_option(learned_table, model)
    bases = base_grids(base_grid, model)
    chosen.check_split(model.split)
    for transformer in transformers:
        active = _lookup(transformer)
        if active is not None:
            raise RuntimeError(
                f"this {type(transformer).__name__} already runs {active.strategy!r} ({active._describe_bases()}) "
                f"through use_strategy; call .remove() on that handle or leave its with-block before applying "
                f"{chosen!r}"
            )
    return StrategyHandle(
        transformers, pipeline, model, chosen, bases, schedule=schedule, learned_table=learned, compiled=compiled
    )


def _lookup(transformer: torch.nn.Module) -> StrategyHandle | None:
    ref = _ACTIVE.get(transformer)
    return None if ref is None else ref()


class StrategyHandle(TableHooks):
    """A strategy applied to a model's transformers by :func:`use_strategy`: a context manager with :meth:`remove`.

    ``strategy`` (a :class:`cogpe.strategy.Strategy`; the early one of a schedule), ``schedule`` (a
    :class:`~cogpe.adapters.schedule.TimestepSchedule`, else None), ``base_grids`` (tokens: the trained
    grids a call scales from, :meth:`base_grid_at` the one it does), ``learned_table`` (5B-I2V's option,
    else None), ``model`` (:class:`cogpe.adapters.models.RopeModel`), ``transformers`` (``transformer``
    is the first) and ``active`` say what runs; :meth:`tables`, :meth:`q_scale` and :meth:`patch_table`
    what the transformers get at a grid (and timestep).
    """

    def __init__(
        self,
        transformers: tuple[torch.nn.Module, ...],
        pipeline: object | None,
        model: RopeModel,
        strategy: Strategy,
        base_grids: tuple[Grid, ...],
        *,
        schedule: TimestepSchedule | None = None,
        learned_table: str | None = None,
        compiled: bool = False,
    ) -> None:
        self.transformers = transformers
        self.transformer = transformers[0]
        self.pipeline = pipeline
        self.model = model
        self.strategy = strategy
        self.base_grids = base_grids
        self.schedule = schedule
        self.learned_table = learned_table
        strategies = (strategy,) if schedule is None else (schedule.early, schedule.late)
        self._strategies = dict(zip(PHASES, strategies))
        # per phase ("early", "late") and base grid: the RoPE tables, each built when a call first needs it;
        # per phase: the table the patch embedding adds (models with one have one base grid)
        build = table_builder(model)  # Mochi: its positions; Allegro: its tables; else strategy_tables
        self._caches = {(phase, base): TableCache(s, base, model.split, model.theta, kept_dtype=model.kept_dtype,
                                                  build=build)
                        for phase, s in self._strategies.items() for base in base_grids}
        if model.encoding == "rope":  # a learned table (5B-I2V) or none: the same in every phase
            shared = self._patch_tables(strategy)
            self._patches = {phase: shared for phase in self._strategies}
        else:  # the 2B's sincos table follows each phase's strategy
            self._patches = {phase: self._patch_tables(s) for phase, s in zip(PHASES, strategies)}
        self._phase = PHASES[0]  # set by a hook from the timestep of the current forward (schedules)
        self._timestep_now: Any = None  # schedules on RoPE: the timestep tensor of the current forward (read on the device)
        self._q_scale = 1.0  # set by a hook for the grid of the current forward
        self._tables_now: Any = None  # CogVideoX, Allegro: set by a hook for the grid of the current forward
        self._removers: list[Callable[[], None]] = []
        self._key = register_source(self._phase_tables)  # how compiled code fetches the tables
        self._compiled = compiled  # compiled code of these transformers exists (or was traced with the hooks)
        self.active = True
        if compiled:
            discard_compiled_code()  # compiled before the hooks: it would not run them
        try:
            for transformer in transformers:
                _ACTIVE[transformer] = weakref.ref(self)
                self._removers.append(self._release(transformer))
                if schedule is not None:  # first: the hooks below read the phase it sets
                    self._hook_timestep(transformer, schedule)
                self._hook_tables(transformer)
                if self._patches[PHASES[0]] is not None:
                    embed = getattr(transformer, "patch_embed")
                    self._removers.append(hook_patch_embed(embed, model, self._current_patch))
                if model.encoding == "rope":  # a sincos model has no RoPE, so no YaRN: q is never scaled
                    for module in query_modules(transformer, model.family):
                        self._removers.append(module.register_forward_hook(self._scale_q).remove)
            if pipeline is not None:
                self._removers.append(check_calls(pipeline, self._check_call))
                if model.tables_at == "argument":
                    self._removers.append(pipeline_tables(pipeline, model, self.tables))
        except BaseException:
            self.remove()
            raise

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        run = repr(self.strategy) if self.schedule is None else (
            f"{self.schedule.early!r} then {self.schedule.late!r} from progress {self.schedule.watershed:g}")
        return (
            f"StrategyHandle({run}, {self._describe_bases()}, "
            f"{type(self.transformer).__name__} ({self.model.name}), {state})"
        )

    @property
    def base_grid(self) -> Grid:
        """The grid every call scales from, where there is one; ValueError where each call picks one of several."""
        if len(self.base_grids) > 1:
            raise ValueError(
                f"this handle scales each call from one of {len(self.base_grids)} trained grids {self.base_grids}: "
                "use handle.base_grid_at(grid) for the one a grid scales from, or handle.base_grids"
            )
        return self.base_grids[0]

    def base_grid_at(self, grid: tuple[int, int, int]) -> Grid:
        """The trained grid token ``grid`` is scaled from (:func:`cogpe.adapters.presets.base_grid_for`)."""
        grid = _grid(check_grid("grid", grid, 3))
        return self.base_grids[0] if len(self.base_grids) == 1 else base_grid_for(grid, self.base_grids)

    def _describe_bases(self) -> str:
        if len(self.base_grids) == 1:
            return f"base_grid={self.base_grids[0]}"
        return f"base grids {', '.join(map(str, self.base_grids))}"

    def _cache_for(self, phase: str, grid: Grid) -> TableCache:
        """The tables of ``phase``'s strategy scaled from the base grid of ``grid``."""
        return self._caches[(phase, self.base_grid_at(grid))]

    def __enter__(self) -> StrategyHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def remove(self) -> None:
        """Restore the transformers (and pipeline) exactly as they were; calling it again does nothing."""
        while self._removers:
            self._removers.pop()()
        if self._compiled:
            discard_compiled_code()  # compiled with the hooks: it would go on running them
            self._compiled = False
        for cache in self._caches.values():
            cache.clear()
        for patch in self._patches.values():
            if patch is not None:
                patch.clear()
        self.active = False

    def tables(self, grid: tuple[int, int, int], device: torch.device | str = "cpu", *, timestep: object = None) -> Tables:
        """The ``(cos, sin)`` the transformers get at token ``grid``, each ``(T*H*W, head_dim)`` float32 (cached).

        Under a schedule: those of the strategy ``timestep`` runs (the first where no timestep is given).
        Wan takes them as ``(1, T*H*W, 1, head_dim)`` views (:meth:`cogpe.adapters.models.RopeModel.shaped`);
        Mochi's are ``(T*H*W, heads, head_dim/2)``, its strategy's positions through its learned frequencies
        (:mod:`cogpe.adapters.mochi`).
        ValueError for CogVideoX-2B, which has no RoPE (:meth:`patch_table`).
        """
        if self.model.encoding != "rope":
            raise ValueError("CogVideoX-2B has no RoPE tables: its positions are the table its patch embedding "
                             "adds; use handle.patch_table(grid)")
        grid = self.model.check_reach(_grid(check_grid("grid", grid, 3)))
        tables = self._phase_tables(self._phase_at(timestep), grid, torch.device(device))
        if self.model.family == "Mochi":  # its positions, through its learned frequencies
            return mochi_tables(tables[0], getattr(self.transformer, "pos_frequencies").detach().to(device))
        return tables

    def patch_table(
        self, grid: tuple[int, int, int], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
        *, timestep: object = None,
    ) -> torch.Tensor | None:
        """The table the patch embedding adds at ``grid``, ``(1, text + T*H*W, D)`` in ``dtype``; None where it
        keeps its own (the strategy's positions are the model's, or ``learned_table="keep"``), and for
        models whose patch embedding adds no table (:mod:`cogpe.adapters.patch_tables`)."""
        grid = _grid(check_grid("grid", grid, 3))
        patch = self._patches[self._phase_at(timestep)]
        if patch is None or not patch.changes(grid):
            return None
        stored = getattr(getattr(self.transformer, "patch_embed"), "pos_embedding", None)
        return patch.get(grid, device, dtype, stored if patch.strategy is None else None)

    def q_scale(self, grid: tuple[int, int, int], *, timestep: object = None) -> float:
        """The factor q is multiplied by at ``grid`` (and ``timestep``, under a schedule): YaRN's ``m²``, else 1.0."""
        grid = _grid(check_grid("grid", grid, 3))
        return self._cache_for(self._phase_at(timestep), grid).q_scale(grid)

    def _phase_at(self, timestep: object) -> str:
        return PHASES[0] if self.schedule is None or timestep is None else self.schedule.phase(timestep)

    # --- hooks ------------------------------------------------------------------------------------------

    def _phase_tables(self, phase: str, grid: Grid, device: torch.device, units: tuple[float, ...] | None = None) -> Tables:
        """``phase``'s tables at ``grid`` on ``device`` (also what compiled code fetches)."""
        return self._cache_for(phase, grid).get(grid, device, units)

    def _current_tables(self, grid: Grid, device: torch.device, units: tuple[float, ...] | None = None) -> Tables:
        """The tables of the current forward: from the cache, or through an opaque operator while compiling."""
        if self._timestep_now is not None and self.schedule is not None:  # both phases', picked on the device
            both = [self._tables_of(phase, grid, device, units) for phase in PHASES]
            return self.schedule.select(self.schedule.is_early(self._timestep_now), both[0], both[1])
        return self._tables_of(self._phase, grid, device, units)

    def _tables_of(self, phase: str, grid: Grid, device: torch.device, units: tuple[float, ...] | None) -> Tables:
        if units is not None:  # LTX-Video, Cosmos: per call, built outside any compiled graph (a graph break)
            return self._call_tables(phase, grid, device, units)
        if torch.compiler.is_compiling():
            self._compiled = True  # traced: removing the strategy must discard this code
            return compiled_tables(self._key, phase, grid, device, self.model.table_widths)
        return self._phase_tables(phase, grid, device)

    @torch.compiler.disable
    def _call_tables(self, phase: str, grid: Grid, device: torch.device, units: tuple[float, ...]) -> Tables:
        """The tables of a call whose radians per token follow its arguments (``units``), always run eagerly."""
        return self._phase_tables(phase, grid, device, units)

    def _current_q_scale(self, grid: Grid) -> Any:
        phases = PHASES if self._timestep_now is not None else (self._phase,)
        scales = []
        for phase in phases:
            cache = self._cache_for(phase, grid)
            scales.append(cache.q_scale_of(grid) if torch.compiler.is_compiling() else cache.q_scale(grid))
        if len(set(scales)) == 1 or self.schedule is None:
            return scales[0]
        return self.schedule.is_early(self._timestep_now), scales[0], scales[1]

    def _current_patch(self) -> PatchTables:
        patch = self._patches[self._phase]
        if patch is None:  # never: the patch hooks are registered only where every phase has a table
            raise RuntimeError("no patch table for this phase")
        return patch

    def _hook_timestep(self, transformer: torch.nn.Module, schedule: TimestepSchedule) -> None:
        """A forward pre-hook setting the phase from the ``timestep`` the transformer receives."""
        names = list(inspect.signature(transformer.forward).parameters)
        if "timestep" not in names:
            raise TypeError(f"{type(transformer).__name__}.forward takes no timestep; a timestep schedule cannot run it")
        at = names.index("timestep")

        def read_timestep(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            timestep = args[at] if len(args) > at else kwargs.get("timestep")
            if self.model.encoding == "rope" and isinstance(timestep, torch.Tensor):
                self._timestep_now = timestep  # decided where the tables are fetched, inside the forward's graph
            else:  # the 2B's patch table follows the phase on the host
                self._timestep_now, self._phase = None, schedule.phase(timestep)

        self._removers.append(transformer.register_forward_pre_hook(read_timestep, with_kwargs=True).remove)

    def _release(self, transformer: torch.nn.Module) -> Callable[[], None]:
        def release() -> None:
            if _lookup(transformer) is self:
                del _ACTIVE[transformer]

        return release

    def _patch_tables(self, strategy: Strategy) -> PatchTables | None:
        """What the patch embedding adds under ``strategy``: 2B's sincos table, or a learned table unless kept."""
        table = self.model.patch_table
        if table is None or (table.kind == "learned" and self.learned_table in (None, "keep")):
            return None
        if table.kind == "sincos":
            return PatchTables(table, self.base_grid, strategy=strategy)
        return PatchTables(table, self.base_grid, learned=self.learned_table or LEARNED_TABLE[0])

    def _check_call(self, pipeline: object, arguments: Mapping[str, Any]) -> None:
        """Refuse a pipeline call whose frames, size or grid the model or strategy cannot take (before it runs)."""
        grid = call_grid(self.model, pipeline, arguments)
        if grid is not None:
            for strategy in self._strategies.values():
                if self.model.family == "Mochi":  # positions only: no split to give frequencies to
                    mochi_positions(strategy, grid, self.base_grid_at(grid))
                elif self.model.family == "Allegro" and self.model.rope_config is not None:  # its radians per token
                    allegro_axes(strategy, grid, self.base_grid_at(grid), self.model.split, self.model.rope_config)
                elif self.model.family == "LTX-Video" and self.model.rope_config is not None:  # at the call's frame rate
                    space, time = vae_factors(pipeline, self.model)
                    scale = (time / float(arguments.get("frame_rate") or 25), float(space), float(space))
                    ltx_axes(strategy, grid, self.base_grid_at(grid), self.model.split[0] // 2, scale, (1, 1, 1),
                             self.model.rope_config, self.model.theta)
                elif self.model.family == "Cosmos" and self.model.rope_config is not None:  # at the call's fps
                    fps = arguments.get("fps")
                    cosmos_axes(strategy, grid, self.base_grid_at(grid), self.model.split, self.model.rope_config[:3],
                                None if fps is None else float(fps), self.model.rope_config[3])
                else:
                    strategy.axes(grid, self.base_grid_at(grid), self.model.split, self.model.theta)


def _grid(values: tuple[int, ...]) -> Grid:
    return values[0], values[1], values[2]
