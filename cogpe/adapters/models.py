"""What the adapters need to know about one diffusers video transformer, and the grid arithmetic it implies.

A :class:`RopeModel` is read from a transformer's config by :mod:`cogpe.adapters.families`; it says
how the head's channels split over ``(t, h, w)``, RoPE's θ, the patch, which latent shapes and pixel
videos the model takes and how they become a token grid, where the tables go and in which arithmetic
they are computed, and — a :class:`PatchTable` — the table CogVideoX's patch embedding adds, where it
adds one (2B's sincos table, which is its only position encoding; 5B-I2V's learned table). Nothing here
imports diffusers.

Token grids (``T, H, W`` = tokens along time, height, width):

- from latents (what a hook sees): ``T = F / pt``, ``H = h / ph``, ``W = w / pw`` for latents of ``F``
  frames and ``h × w`` pixels — ``(B, F, C, h, w)`` for CogVideoX, ``(B, C, F, h, w)`` for Wan and
  HunyuanVideo; refused where a patch does not divide them (the model would drop the rest);
- from a video (what a pipeline is asked for): ``F = (frames − 1) // 4 + 1`` latent frames (the VAEs
  compress time 4×, keeping frame 0), padded up to a multiple of ``pt`` (CogVideoX 1.5's pipelines pad),
  and ``h, w = height / vae_scale, width / vae_scale``; refused unless ``frames = frame_step·N + 1`` and
  the sizes are multiples of ``vae_scale × patch``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import check_size
from .tables import Grid, Tables

__all__ = ["PatchTable", "RopeModel"]

_AXES = ("T", "H", "W")


@dataclass(frozen=True)
class PatchTable:
    """The additive table of a CogVideoX patch embedding (diffusers' ``CogVideoXPatchEmbed.pos_embedding``).

    ``kind`` is ``"sincos"`` (CogVideoX-2B: the 3-D sincos table on positions ``arange(n) / scale``,
    chapter 2) or ``"learned"`` (CogVideoX 1.0 5B-I2V: a stored table for ``grid`` only). The table is
    ``(1, text_rows + T*H*W, dim)``: ``text_rows`` rows for the text tokens (``max_text_seq_length``;
    zeros when diffusers builds it), then one row per video token, ``t*H*W + h*W + w``. ``scale`` is
    ``(temporal_interpolation_scale, spatial_interpolation_scale, spatial_interpolation_scale)``,
    ``grid`` the token grid the stored table was built for (the config's ``sample_*``).
    """

    kind: str  # "sincos" or "learned"
    dim: int
    text_rows: int
    scale: tuple[float, float, float]
    grid: Grid


@dataclass(frozen=True)
class RopeModel:
    """One transformer's positions as the adapters use them: RoPE, and the patch embedding's table (module docstring).

    ``family`` is ``"CogVideoX"``, ``"Wan"``, ``"HunyuanVideo"`` or ``"Mochi"``, ``name`` the version (``"CogVideoX
    1.0"``, ``"CogVideoX 1.5"``, or the family). ``split`` is the head's ``(t, h, w)`` channels, ``patch``
    the ``(pt, ph, pw)`` patch, ``base_grids`` the default grids a strategy scales from — one per trained
    size; a call scales from the one :func:`cogpe.adapters.presets.base_grid_for` picks — (``preset``
    names them where they are a named preset rather than the config's). ``latents`` is the layout of the tensor the
    grid is read from; ``tables_at`` where the tables go — ``"argument"`` (``image_rotary_emb`` of the
    transformer's forward), ``"transformer"`` (Allegro: ``image_rotary_emb`` of every ``attn1``, read from
    the transformer's latents), ``"rope"`` (the output of ``transformer.rope``) or ``"patch_embed"``
    (CogVideoX-2B, which has no RoPE: the sincos table its patch embedding adds, :attr:`encoding`
    ``"sincos"``); ``patch_table`` that table where the patch embedding has one (2B's sincos, 5B-I2V's
    learned table on top of RoPE), else None; ``kept_dtype`` the
    arithmetic of axes keeping RoPE's frequencies (:mod:`cogpe.adapters.tables`); ``max_positions``
    the longest axis the model's own tables reach (Wan's ``rope_max_seq_len``), None for no limit.
    ``sample_frames`` and ``sample_hw`` (latent) are what CogVideoX pipelines substitute for None.
    ``strategies`` the strategies the model can use where not every RoPE one has a meaning (Mochi:
    :data:`cogpe.adapters.mochi.MOCHI_STRATEGIES`), else None; ``target_area`` Mochi's
    ``MochiRoPE.target_area`` (its positions cover that area at every size), else None. Mochi's
    ``split`` is ``(0, 0, 0)`` and ``theta`` 0: its frequencies are learned and every pair mixes the axes.
    ``rope_config`` holds what a family whose positions are in units of its own reads from its config
    (Allegro: ``interpolation_scale_t/h/w``, ``cogpe.adapters.allegro``; LTX-Video: its rope's base
    frames, height and width, ``cogpe.adapters.ltx``; Cosmos: ``rope_scale`` t, h, w and ``base_fps``,
    ``cogpe.adapters.cosmos``), else None. LTX-Video's ``head_dim`` is the
    width its one table rotates (``heads × head_dim``), and its ``latents`` unused (its grid comes from
    its rope's arguments).
    """

    family: str
    name: str
    head_dim: int
    split: Grid
    theta: float
    patch: Grid
    temporal_compression: int
    base_grids: tuple[Grid, ...]
    frame_step: int
    latents: str  # "BFCHW" (CogVideoX hidden_states) or "BCFHW" (Wan's and HunyuanVideo's rope input)
    tables_at: str  # "argument", "rope", "patch_embed" or "transformer" (Allegro: from its latents)
    kept_dtype: torch.dtype = torch.float32
    max_positions: int | None = None
    preset: str | None = None
    sample_frames: int | None = None
    sample_hw: tuple[int, int] | None = None
    patch_table: PatchTable | None = None
    strategies: tuple[str, ...] | None = None
    target_area: float | None = None
    rope_config: tuple[float, ...] | None = None

    @property
    def encoding(self) -> str:
        """``"sincos"`` for a model whose positions are its patch embedding's sincos table (CogVideoX-2B), else ``"rope"``."""
        return "sincos" if self.tables_at == "patch_embed" else "rope"

    @property
    def table_widths(self) -> tuple[int, ...]:
        """Widths of what a strategy's tables are at a grid: ``(head_dim, head_dim)`` for ``(cos, sin)``, ``(3,)``
        for Mochi's positions ``(N, 3)`` (its tables are built from them and its learned frequencies)."""
        return (3,) if self.family == "Mochi" else (self.head_dim, self.head_dim)

    def token_grid(self, shape: torch.Size | tuple[int, ...]) -> Grid:
        """Token grid ``(T, H, W)`` of latents of ``shape`` (layout :attr:`latents`); ValueError naming the fix."""
        layout = f"({', '.join(self.latents)})"
        if len(shape) != 5:
            raise ValueError(f"hidden_states must be latents {layout}, got shape {tuple(shape)}")
        dims = dict(zip(self.latents, (int(n) for n in shape)))
        f, h, w = dims["F"], dims["H"], dims["W"]
        pt, ph, pw = self.patch
        where = f"hidden_states {layout} = {tuple(shape)}"
        for name, n, p in (("height H", h, ph), ("width W", w, pw)):
            if n % p:
                raise ValueError(
                    f"{where}: latent {name}={n} is not a multiple of patch_size={p}; use pixel sizes that are "
                    f"multiples of VAE scale × {p} (8·{p} = {8 * p} for an 8× VAE)"
                )
        if f % pt:
            raise ValueError(
                f"{where}: {f} latent frames are not a multiple of patch_size_t={pt}; {self.name}'s pipelines "
                "pad the latents to a multiple first (CogVideo #647)"
            )
        return self.check_reach((f // pt, h // ph, w // pw))

    def video_grid(self, num_frames: int, height: int, width: int, *, vae_scale: int = 8,
                   temporal_compression: int | None = None) -> Grid:
        """Token grid of a video of ``num_frames`` × ``height`` × ``width`` pixels, refusing what the model cannot take.

        ``num_frames`` must be ``frame_step·N + 1``, ``height`` and ``width`` multiples of ``vae_scale ·
        patch``; a ValueError names the argument, its value and valid ones. ``temporal_compression``
        (the VAE's) defaults to the model's.
        """
        frames = check_size("num_frames", num_frames, what="frames")
        step = self.frame_step
        if (frames - 1) % step:
            below = frames - 1 - (frames - 1) % step + 1
            raise ValueError(
                f"num_frames={frames} cannot be taken by {self.name}: frames must be {step}N+1 "
                f"(e.g. {below} or {below + step})"
            )
        pt, ph, pw = self.patch
        sizes = []
        for name, value, p in (("height", height, ph), ("width", width, pw)):
            size, multiple = check_size(name, value, what="pixels"), vae_scale * p
            if size % multiple:
                lower = max(multiple, size - size % multiple)
                raise ValueError(
                    f"{name}={size} is not a multiple of {multiple} (VAE scale {vae_scale} × patch_size "
                    f"{p}); use e.g. {lower} or {lower + multiple}"
                )
            sizes.append(size // multiple)
        tc = self.temporal_compression if temporal_compression is None else temporal_compression
        latent_frames = (frames - 1) // tc + 1
        t = -(-latent_frames // pt)  # padded up to a multiple of pt, then grouped
        return self.check_reach((t, sizes[0], sizes[1]))

    def check_reach(self, grid: Grid, name: str = "grid") -> Grid:
        """``grid`` if no axis is longer than :attr:`max_positions`; ValueError naming the limit otherwise."""
        limit = self.max_positions
        if limit is not None and max(grid) > limit:
            axis = _AXES[grid.index(max(grid))]
            raise ValueError(
                f"{name} {grid} has {max(grid)} tokens along {axis}, more than {self.name}'s rotary tables "
                f"reach (rope_max_seq_len={limit} positions per axis); use a shorter {name} or a model "
                "configured with a larger rope_max_seq_len"
            )
        return grid

    def shaped(self, tables: Tables) -> Tables:
        """``(cos, sin)`` ``(N, D)`` in the shape the model takes: Wan's ``(1, N, 1, D)``, else as given."""
        if self.family != "Wan":
            return tables
        cos, sin = tables
        return cos[None, :, None, :], sin[None, :, None, :]  # (1, N, 1, D): batch, tokens, heads, channels
