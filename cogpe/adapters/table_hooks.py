"""The hooks that hand a transformer its strategy's tables, per family: :class:`TableHooks`, a part of the handle.

:class:`cogpe.adapters.hooks.StrategyHandle` registers these on the modules where each family takes
its tables (:mod:`cogpe.adapters.hooks` says which, and why there): CogVideoX's ``patch_embed`` and
``attn1`` (``image_rotary_emb``), Allegro's transformer and ``attn1``, the ``rope`` module of Wan,
HunyuanVideo and Mochi, and the query modules that carry YaRN's temperature. Each callback reads the
grid of the current forward, fetches the tables through the handle's its ``_current_tables``
(cached; through an opaque operator while compiling) and puts them where the model reads them.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch

from .allegro import allegro_rotary_emb
from .cosmos import call_fps as cosmos_call_fps
from .families import query_attentions
from .ltx import call_scale as ltx_call_scale
from .mochi import mochi_tables
from .models import RopeModel
from .tables import Grid, Tables

__all__ = ["TableHooks"]


class TableHooks:
    """The table hooks of a :class:`~cogpe.adapters.hooks.StrategyHandle` (module docstring); the handle
    supplies ``model``, the removers list and the current tables and q factor."""

    model: RopeModel
    _removers: list[Callable[[], None]]
    _tables_now: Any  # CogVideoX, Allegro: what the attentions get in the current forward
    _q_scale: Any

    def _current_tables(self, grid: Grid, device: torch.device, units: tuple[float, ...] | None = None) -> Tables:
        raise NotImplementedError

    def _current_q_scale(self, grid: Grid) -> float:
        raise NotImplementedError

    def _hook_tables(self, transformer: torch.nn.Module) -> None:
        """Register the hooks that give ``transformer`` the strategy's RoPE tables (module docstring)."""
        if self.model.tables_at == "patch_embed":
            return  # no RoPE: the patch embedding's hooks carry the positions
        if self.model.tables_at == "argument":
            _forward_positions(transformer)  # refuses a forward without image_rotary_emb
        if self.model.tables_at == "argument" or self.model.family == "Mochi":
            self._hook_latent_check(transformer)
        if self.model.tables_at == "transformer":  # Allegro: the grid of its latents
            self._removers.append(transformer.register_forward_pre_hook(self._latent_tables, with_kwargs=True).remove)
        if self.model.tables_at in ("argument", "transformer"):
            if self.model.tables_at == "argument":
                embed = getattr(transformer, "patch_embed")
                self._removers.append(embed.register_forward_pre_hook(self._embed_tables, with_kwargs=True).remove)
            for attention in query_attentions(transformer, self.model.family):
                self._removers.append(attention.register_forward_pre_hook(self._give_tables, with_kwargs=True).remove)
            return
        if self.model.family == "Mochi":
            self._removers.append(getattr(transformer, "rope").register_forward_hook(self._mochi_tables).remove)
            return
        rope = getattr(transformer, "rope")
        if self.model.family == "Cosmos":  # the grid from rope's input, the call's fps from its argument
            self._removers.append(rope.register_forward_pre_hook(self._cosmos_call, with_kwargs=True).remove)
            self._removers.append(rope.register_forward_hook(self._fps_tables).remove)
            return
        if self.model.family == "LTX-Video":  # the grid and the call's scale from rope's own arguments
            self._removers.append(rope.register_forward_pre_hook(self._ltx_call, with_kwargs=True).remove)
            self._removers.append(rope.register_forward_hook(self._ltx_tables).remove)
            return
        self._removers.append(rope.register_forward_pre_hook(self._read_grid).remove)
        self._removers.append(rope.register_forward_hook(self._rope_tables).remove)

    def _hook_latent_check(self, transformer: torch.nn.Module) -> None:
        """A forward pre-hook on ``transformer`` refusing latents it cannot take, before its forward unpacks them
        (shape checks only: compiled, this hook makes no graph)."""
        names = list(inspect.signature(transformer.forward).parameters)
        at = names.index("hidden_states") if "hidden_states" in names else 0  # 0 in every supported class

        def check_latents(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            hidden = args[at] if len(args) > at else kwargs.get("hidden_states")
            if isinstance(hidden, torch.Tensor):
                self.model.token_grid(hidden.shape)

        self._removers.append(transformer.register_forward_pre_hook(check_latents, with_kwargs=True).remove)

    def _mochi_tables(self, module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> Tables | None:
        """Forward hook on Mochi's ``rope(pos_frequencies, T, H, W)``: its output := the strategy's positions
        through ``pos_frequencies``, ``(N, heads, head_dim/2)`` (:func:`cogpe.adapters.mochi.mochi_tables`)."""
        if len(args) < 4 or not isinstance(args[0], torch.Tensor):
            return None
        freqs = args[0]  # (3, heads, head_dim/2)
        grid = self.model.check_reach((int(args[1]), int(args[2]), int(args[3])))  # tokens: Mochi's patch_t is 1
        positions = self._current_tables(grid, freqs.device)[0]  # (N, 3)
        return mochi_tables(positions, freqs)

    def _embed_tables(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Forward pre-hook on CogVideoX's ``patch_embed``: the tables and q's factor for its latents' grid.

        Hooks inside ``forward`` (this one, and :meth:`_give_tables` on the attentions) are traced with
        it by ``torch.compile``; a hook on the transformer itself would be compiled as a graph of its own.
        """
        latents = args[1] if len(args) > 1 else kwargs.get("image_embeds")  # (B, F, C, H, W)
        if not isinstance(latents, torch.Tensor):
            return  # the forward reports its own missing argument
        grid = self.model.token_grid(latents.shape)
        self._tables_now = self._current_tables(grid, latents.device)
        self._q_scale = self._current_q_scale(grid)

    def _latent_tables(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Forward pre-hook on Allegro's transformer: its ``image_rotary_emb`` for the grid of its latents
        ``(B, C, F, H, W)`` (``cogpe.adapters.allegro.allegro_rotary_emb``), and q's factor."""
        latents = args[0] if args else kwargs.get("hidden_states")
        if isinstance(latents, torch.Tensor):
            grid = self.model.token_grid(latents.shape)
            cos, sin = self._current_tables(grid, latents.device)
            self._tables_now = allegro_rotary_emb(cos, sin, self.model.split)
            self._q_scale = self._current_q_scale(grid)

    def _give_tables(
        self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        """Forward pre-hook on each CogVideoX (Allegro) ``attn1``: ``image_rotary_emb`` := the tables of this forward."""
        tables = self._tables_now
        return None if tables is None else (args, {**kwargs, "image_rotary_emb": tables})

    def _read_grid(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        """Forward pre-hook on ``rope`` (Wan, HunyuanVideo): refuse grids the model cannot take; set q's factor."""
        if args and isinstance(args[0], torch.Tensor):
            grid = self.model.token_grid(args[0].shape)
            self._q_scale = self._current_q_scale(grid)

    def _rope_tables(self, module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> Tables | None:
        """Forward hook on ``rope``: its output := the strategy's tables, in the model's shape and dtype.

        The dtype is that of the model's own tables: float32 as loaded (diffusers keeps Wan's ``rope``
        in float32), the half dtype where the whole model was cast, so that the trained grid stays
        bit for bit the model's own either way.
        """
        if not (args and isinstance(args[0], torch.Tensor)):
            return None
        hidden = args[0]  # (B, C, F, H, W)
        grid = self.model.token_grid(hidden.shape)
        cos, sin = self.model.shaped(self._current_tables(grid, hidden.device))
        own = output[0] if isinstance(output, (tuple, list)) and output else None
        if isinstance(own, torch.Tensor) and own.dtype != cos.dtype:
            cos, sin = cos.to(own.dtype), sin.to(own.dtype)
        return cos, sin

    def _ltx_call(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Forward pre-hook on LTX-Video's ``rope(hidden_states (B, N, C), num_frames, height, width,
        rope_interpolation_scale, video_coords)``: the call's grid, scale and batch; q's factor."""
        names = ("hidden_states", "num_frames", "height", "width", "rope_interpolation_scale", "video_coords")
        given = {**dict(zip(names, args)), **kwargs}
        if given.get("video_coords") is not None:
            raise ValueError("LTX-Video was given video_coords (LTXConditionPipeline's conditioning positions), which "
                             "use_strategy does not place; use LTXPipeline or LTXImageToVideoPipeline")
        hidden, sizes = given.get("hidden_states"), [given.get(k) for k in names[1:4]]
        t, h, w = (n if isinstance(n, int) and not isinstance(n, bool) else 0 for n in sizes)
        if not isinstance(hidden, torch.Tensor) or min(t, h, w) < 1:
            raise ValueError(f"LTX-Video's rope needs num_frames, height and width as positive ints, got {sizes}")
        grid = self.model.check_reach((t, h, w))
        if hidden.ndim != 3 or hidden.shape[1] != grid[0] * grid[1] * grid[2]:
            raise ValueError(f"LTX-Video's hidden_states {tuple(hidden.shape)} must be packed latents (B, T·H·W, C) "
                             f"for num_frames, height, width = {grid}")
        self._tables_now = (grid, ltx_call_scale(given.get("rope_interpolation_scale")), hidden.shape[0], hidden.device)
        self._q_scale = self._current_q_scale(grid)

    def _ltx_tables(self, module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> Tables:
        """Forward hook on LTX-Video's ``rope``: its output := the strategy's ``(cos, sin)``, each ``(B, N, dim)``."""
        grid, scale, batch, device = self._tables_now
        cos, sin = self._current_tables(grid, device, scale if scale is not None else ())
        return cos[None].expand(batch, -1, -1), sin[None].expand(batch, -1, -1)  # (B, N, dim) views

    def _cosmos_call(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Forward pre-hook on Cosmos's ``rope(hidden_states (B, C, F, H, W), fps=…)``: grid, fps; q's factor."""
        hidden = args[0] if args else kwargs.get("hidden_states")
        if isinstance(hidden, torch.Tensor):
            grid = self.model.token_grid(hidden.shape)
            fps = cosmos_call_fps(args[1] if len(args) > 1 else kwargs.get("fps"))
            self._tables_now = (grid, () if fps is None else (fps,), hidden.device)
            self._q_scale = self._current_q_scale(grid)

    def _fps_tables(self, module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> Tables:
        """Forward hook on Cosmos's ``rope``: its output := the strategy's ``(cos, sin)``, each ``(N, head_dim)``."""
        grid, units, device = self._tables_now
        return self._current_tables(grid, device, units)

    def _scale_q(self, module: torch.nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor | None:
        """Forward hook on a query module: q × ``m²``; None (q untouched) where ``m² = 1``."""
        scale = self._q_scale
        if isinstance(scale, tuple):  # a schedule whose phases differ: each product, picked on the device
            early, a, b = scale
            return torch.where(early, output * a, output * b)
        return None if scale == 1.0 else output * scale



def _forward_positions(transformer: torch.nn.Module) -> tuple[int, int]:
    """Positional indices of ``image_rotary_emb`` and ``hidden_states`` in ``transformer.forward``."""
    names = list(inspect.signature(transformer.forward).parameters)
    missing = [n for n in ("image_rotary_emb", "hidden_states") if n not in names]
    if missing:
        raise TypeError(f"{type(transformer).__name__}.forward takes no {', '.join(missing)}; use_strategy cannot set its tables")
    return names.index("image_rotary_emb"), names.index("hidden_states")

