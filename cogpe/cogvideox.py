"""CogVideoX presets and the exact position tables its two implementations build (all chapters).

Two codebases run CogVideoX: the original SAT code (``sat/dit_video_concat.py``; CogVideoX 1.0 at the
repository's ``v1.0`` tag, the 1.5 series on its main branch, which no longer loads 1.0 configurations)
and diffusers (``CogVideoXPatchEmbed``, ``get_3d_rotary_pos_embed`` and the pipelines). They agree at
the trained size and differ elsewhere (chapter 1, section 1.4, is the full table, trainers included):

==================  =======================================  =========================================
model               SAT                                      diffusers pipelines
==================  =======================================  =========================================
2B (sincos)         ``v1.0``: table for the configured       table regenerated for any size, same
                    13×30×45 grid, positions ``i/1.875``;    ``i/1.875`` (the range grows)
                    frame prefixes only
5B 1.0 (RoPE)       ``v1.0``: ``arange`` on the fixed        positions spread over the crop region
                    30×45 grid; frame prefixes only          of the 30×45 base box (``linspace``)
1.5-5B (RoPE)       main: ``arange`` sliced from a           ``arange`` sliced from the config's
                    21×150×150 table                         ``sample_* / 2`` (150×150 or 48×85;
                                                             any T)
==================  =======================================  =========================================

CogVideo's fine-tuning trainers (since January 2025) slice with ``max_size`` equal to the grid: plain
``arange`` at every size, no cap. The ``sat_*`` and ``diffusers_*`` functions reproduce each codebase's
arithmetic (float32 positions, float32 RoPE frequencies), so their tables equal the originals bit for
bit or to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, TypedDict

import torch

from ._checks import check_choice, check_grid
from .grids import (
    arange_positions,
    crop_region,
    diffusers_linspace_positions,
    divided_positions,
    latent_grid,
    slice_positions,
)
from .rope import rope_3d
from .sincos import sincos_3d

__all__ = [
    "PRESETS",
    "CogVideoXConfig",
    "diffusers_rope_tables",
    "diffusers_sincos_table",
    "get_preset",
    "sat_rope_tables",
    "sat_sincos_table",
    "token_grid",
]


@dataclass(frozen=True)
class CogVideoXConfig:
    """One released CogVideoX model: transformer sizes and everything its position encoding depends on.

    ``base_latent_hw`` is the latent size the position tables are configured for (diffusers'
    ``sample_height, sample_width``); ``rope_max_grid`` the table CogVideoX 1.5 slices from.
    """

    name: str
    version: str  # "1.0" or "1.5"
    hidden_size: int
    num_layers: int
    num_heads: int
    head_dim: int
    pos_embedding: str  # "sincos" (additive, frozen) or "rope" (on q and k)
    learned_pos_embedding: bool  # CogVideoX-5B-I2V 1.0 adds a learnable table on top of RoPE
    patch_size: int
    patch_size_t: int | None
    in_channels: int
    text_length: int  # SAT (T5 max length); diffusers uses 226 for every model
    num_frames: int  # native pixel frames
    height: int  # native pixel size
    width: int
    base_latent_hw: tuple[int, int]
    spatial_interpolation: float = 1.0  # 1.875 for the 2B sincos table (h and w)
    temporal_interpolation: float = 1.0
    theta: float = 10000.0
    rope_max_grid: tuple[int, int, int] | None = None
    vae_scale: int = 8
    temporal_compression: int = 4

    @property
    def rope_split(self) -> tuple[int, int, int]:
        """Head-dim channels per axis (t, h, w): (16, 24, 24) for head_dim 64."""
        return self.head_dim // 4, self.head_dim // 8 * 3, self.head_dim // 8 * 3

    @property
    def base_grid(self) -> tuple[int, int, int]:
        """Token grid (T, H, W) at the native resolution and frame count."""
        return token_grid(self, self.num_frames, self.height, self.width)


class _Common10(TypedDict):
    """The :class:`CogVideoXConfig` fields every CogVideoX 1.0 model shares."""

    version: str
    head_dim: int
    patch_size: int
    patch_size_t: int | None
    text_length: int
    num_frames: int
    height: int
    width: int
    base_latent_hw: tuple[int, int]


_COMMON_1_0 = _Common10(
    version="1.0", head_dim=64, patch_size=2, patch_size_t=None, text_length=226,
    num_frames=49, height=480, width=720, base_latent_hw=(60, 90),
)

PRESETS: dict[str, CogVideoXConfig] = {
    "cogvideox-2b": CogVideoXConfig(
        name="cogvideox-2b", hidden_size=1920, num_layers=30, num_heads=30, pos_embedding="sincos",
        learned_pos_embedding=False, in_channels=16, spatial_interpolation=1.875, **_COMMON_1_0,
    ),
    "cogvideox-5b": CogVideoXConfig(
        name="cogvideox-5b", hidden_size=3072, num_layers=42, num_heads=48, pos_embedding="rope",
        learned_pos_embedding=False, in_channels=16, **_COMMON_1_0,
    ),
    "cogvideox-5b-i2v": CogVideoXConfig(
        name="cogvideox-5b-i2v", hidden_size=3072, num_layers=42, num_heads=48, pos_embedding="rope",
        learned_pos_embedding=True, in_channels=32, **_COMMON_1_0,
    ),
    "cogvideox1.5-5b": CogVideoXConfig(
        name="cogvideox1.5-5b", version="1.5", hidden_size=3072, num_layers=42, num_heads=48, head_dim=64,
        pos_embedding="rope", learned_pos_embedding=False, patch_size=2, patch_size_t=2, in_channels=16,
        text_length=224, num_frames=81, height=768, width=1360, base_latent_hw=(300, 300),
        rope_max_grid=(21, 150, 150),
    ),
}


def get_preset(preset: str | CogVideoXConfig) -> CogVideoXConfig:
    """The :class:`CogVideoXConfig` named ``preset`` (a name in :data:`PRESETS`, or a config itself).

    >>> get_preset("cogvideox-2b").spatial_interpolation
    1.875
    """
    if isinstance(preset, CogVideoXConfig):
        return preset
    return PRESETS[check_choice("preset", preset, tuple(PRESETS))]


def token_grid(
    preset: str | CogVideoXConfig,
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
) -> tuple[int, int, int]:
    """Token grid (T, H, W) of ``preset`` for a video of ``num_frames`` × ``height`` × ``width`` pixels.

    Missing arguments take the preset's native values.

    >>> token_grid("cogvideox-5b")
    (13, 30, 45)
    >>> token_grid("cogvideox1.5-5b", 81, 768, 1360)
    (11, 48, 85)
    """
    cfg = get_preset(preset)
    return latent_grid(
        cfg.num_frames if num_frames is None else num_frames,
        cfg.height if height is None else height,
        cfg.width if width is None else width,
        patch_size=cfg.patch_size,
        patch_size_t=cfg.patch_size_t,
        vae_scale=cfg.vae_scale,
        temporal_compression=cfg.temporal_compression,
    )


def _require(cfg: CogVideoXConfig, kind: str) -> None:
    if cfg.pos_embedding != kind:
        others = [n for n, c in PRESETS.items() if c.pos_embedding == kind]
        raise ValueError(
            f"preset {cfg.name!r} uses {cfg.pos_embedding} position encodings, not {kind}; "
            f"{kind} presets: {', '.join(map(repr, others))}"
        )


def _check_sat_grid(
    cfg: CogVideoXConfig, grid: tuple[int, int, int], table_grid: tuple[int, int, int]
) -> None:
    """SAT 1.0 builds one table and uses a frame prefix: only T ≤ T0 at the configured H×W is valid."""
    (t, h, w), (t0, h0, w0) = grid, table_grid
    if (h, w) != (h0, w0) or t > t0:
        raise ValueError(
            f"SAT {cfg.name} builds its table for the {t0}x{h0}x{w0} token grid and can only take a frame "
            f"prefix of it (T <= {t0} at H x W = {h0} x {w0}); grid (T, H, W) = {grid} would be mis-indexed. "
            "Use the diffusers_* function for other sizes."
        )


def sat_sincos_table(
    preset: str | CogVideoXConfig = "cogvideox-2b",
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    *,
    with_text: bool = False,
) -> torch.Tensor:
    """SAT's ``Basic3DPositionEmbeddingMixin`` table for CogVideoX-2B (``v1.0`` tag): ``(T*H*W, D)`` float32.

    Positions ``arange(n, float32) / (1, 1.875, 1.875)``; the table is built once for the configured
    13×30×45 grid and a frame prefix is used for shorter videos. ``with_text=True`` returns the whole
    parameter, ``(text_length + T*H*W, D)``, whose 226 text rows are zero.

    >>> sat_sincos_table().shape
    torch.Size([17550, 1920])
    """
    cfg = get_preset(preset)
    _require(cfg, "sincos")
    grid = token_grid(cfg, num_frames, height, width)
    table_grid = cfg.base_grid
    _check_sat_grid(cfg, grid, table_grid)
    factors = (cfg.temporal_interpolation, cfg.spatial_interpolation, cfg.spatial_interpolation)
    positions = [divided_positions(n, s, dtype=torch.float32) for n, s in zip(table_grid, factors)]
    table = sincos_3d(cfg.hidden_size, positions=positions, dtype=torch.float32)
    table = table[: grid[0] * grid[1] * grid[2]]  # frame prefix: rows are t-major
    if with_text:
        table = torch.cat([table.new_zeros(cfg.text_length, cfg.hidden_size), table])
    return table


def diffusers_sincos_table(
    preset: str | CogVideoXConfig = "cogvideox-2b",
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    *,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """diffusers' ``CogVideoXPatchEmbed`` sincos table: ``(T*H*W, D)``, regenerated for any size.

    Positions ``arange(n, float32) / 1.875`` on h and w at every size: at larger sizes the position
    range grows past the training range (the 2B model extrapolates its already scaled positions).
    diffusers builds it in float64 and casts it to the activations' dtype.

    >>> diffusers_sincos_table(height=768, width=1360).shape   # 13 x 48 x 85 tokens
    torch.Size([53040, 1920])
    """
    cfg = get_preset(preset)
    _require(cfg, "sincos")
    grid = token_grid(cfg, num_frames, height, width)
    factors = (cfg.temporal_interpolation, cfg.spatial_interpolation, cfg.spatial_interpolation)
    positions = [divided_positions(n, s, dtype=torch.float32) for n, s in zip(grid, factors)]
    return sincos_3d(cfg.hidden_size, positions=positions, dtype=dtype)


def _rope(cfg: CogVideoXConfig, positions: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return rope_3d(cfg.head_dim, positions=positions, theta=cfg.theta, freqs_dtype=torch.float32)


def sat_rope_tables(
    preset: str | CogVideoXConfig = "cogvideox-5b",
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAT's ``Rotary3DPositionEmbeddingMixin`` tables ``(cos, sin)``, each ``(T*H*W, head_dim)`` float32.

    Plain ``arange`` positions on every axis (extrapolation). CogVideoX 1.0 (SAT's ``v1.0`` tag) builds
    the configured 13×30×45 table and takes a frame prefix; CogVideoX 1.5 (SAT's main branch) slices
    ``[:T, :H, :W]`` from a 21×150×150 table. Frequencies are computed in float32, as SAT does.

    >>> cos, sin = sat_rope_tables("cogvideox1.5-5b", 81, 768, 1360)
    >>> cos.shape
    torch.Size([44880, 64])
    """
    cfg = get_preset(preset)
    _require(cfg, "rope")
    grid = token_grid(cfg, num_frames, height, width)
    if cfg.rope_max_grid is None:
        _check_sat_grid(cfg, grid, cfg.base_grid)
        positions = [arange_positions(n, dtype=torch.float32) for n in grid]
    else:
        positions = [
            slice_positions(n, m, dtype=torch.float32) for n, m in zip(grid, cfg.rope_max_grid)
        ]
    return _rope(cfg, positions)


def diffusers_rope_tables(
    preset: str | CogVideoXConfig = "cogvideox-5b",
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    *,
    sample_hw: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """diffusers' RoPE tables ``(cos, sin)``, each ``(T*H*W, head_dim)`` float32, as its pipelines build them.

    CogVideoX 1.0: h and w positions spread over ``crop_region((H, W), (30, 45))`` with diffusers ≥ 0.32's
    ``linspace(start, stop*(n-1)/n, n)`` (``grid_type="linspace"``); t is ``arange``. At 480×720 this is
    SAT's ``arange``; elsewhere positions are rescaled into the base box. CogVideoX 1.5: ``arange``
    sliced from a ``sample_height/2 × sample_width/2`` table (``grid_type="slice"``), any number of
    frames; a grid beyond it fails in diffusers, a ValueError naming the cap here.

    ``sample_hw`` is the transformer config's ``(sample_height, sample_width)`` in latent pixels
    (``transformer.config``); it defaults to the preset's ``base_latent_hw``. Released configs differ:
    1.5's is 300×300 in diffusers' conversion script (a 150×150 table), 96×170 in later ones (48×85,
    the 768×1360 training size, beyond which portrait 1360×768 fails).

    >>> cos, sin = diffusers_rope_tables("cogvideox-5b", 49, 768, 1360)   # crop ((2, 0), (27, 45))
    >>> cos.shape
    torch.Size([53040, 64])
    >>> diffusers_rope_tables("cogvideox1.5-5b", 81, 1360, 768, sample_hw=(96, 170))
    Traceback (most recent call last):
    ...
    ValueError: grid (11, 85, 48) has H = 85 tokens, beyond the 48 × 85 table ...
    """
    cfg = get_preset(preset)
    _require(cfg, "rope")
    T, H, W = token_grid(cfg, num_frames, height, width)
    sample = cfg.base_latent_hw if sample_hw is None else check_grid("sample_hw", sample_hw, 2)
    base_hw = (sample[0] // cfg.patch_size, sample[1] // cfg.patch_size)
    if cfg.rope_max_grid is not None:
        for axis, n, cap in (("H", H, base_hw[0]), ("W", W, base_hw[1])):
            if n > cap:
                raise ValueError(
                    f"grid {(T, H, W)} has {axis} = {n} tokens, beyond the {base_hw[0]} × {base_hw[1]} table "
                    f"diffusers' {cfg.name} pipeline slices positions from (sample_hw={tuple(sample)} latent "
                    f"pixels / patch {cfg.patch_size}); its pipeline fails there. Use a size within it, or run "
                    "the model under cogpe.adapters.use_strategy"
                )
    if cfg.rope_max_grid is None:
        (top, left), (bottom, right) = crop_region((H, W), base_hw)
        positions = [
            diffusers_linspace_positions(0, T, T),
            diffusers_linspace_positions(top, bottom, H),
            diffusers_linspace_positions(left, right, W),
        ]
    else:
        positions = [
            arange_positions(T, dtype=torch.float32),
            slice_positions(H, base_hw[0], dtype=torch.float32),
            slice_positions(W, base_hw[1], dtype=torch.float32),
        ]
    return _rope(cfg, positions)
