"""cogpe — position encodings of video transformers, and what happens to them at a new resolution.

The package behind the book: CogVideoX's 3-D sincos table (:mod:`cogpe.sincos`, chapter 2) and 3-D
RoPE (:mod:`cogpe.rope`, chapter 3; its fast path :mod:`cogpe.rope_complex`, chapter 8), the position
grids they are evaluated on (:mod:`cogpe.grids`), the strategies for a new resolution or length — one
vocabulary for every encoding (:mod:`cogpe.strategy`, on the formulas of :mod:`cogpe.scaling`,
chapter 6) — the cached position modules (:mod:`cogpe.embeddings`), table resampling
(:mod:`cogpe.resample`, chapter 5), the exact CogVideoX configurations (:mod:`cogpe.cogvideox`) and the
lab of chapter 7: videos (:mod:`cogpe.data`), model (:mod:`cogpe.model`), denoising objective, evaluation
and sampling (:mod:`cogpe.objective`), training configurations and presets (:mod:`cogpe.trainconfig`),
the training loop (:mod:`cogpe.train`), the files a run writes and their provenance
(:mod:`cogpe.runfiles`) and the comparison (:mod:`cogpe.lab`). These five are imported on demand
(``from cogpe.train import train``).

Conventions: grids and interpolation factors are ordered (T, H, W); tables are flattened token-major
``(t, h, w)`` to shape ``(T*H*W, D)``.
"""

from .cogvideox import (
    PRESETS,
    CogVideoXConfig,
    diffusers_rope_tables,
    diffusers_sincos_table,
    get_preset,
    sat_rope_tables,
    sat_sincos_table,
    token_grid,
)
from .data import DataConfig, Scene, VideoDataset, render, sample_scenes, trajectory
from .grids import (
    arange_positions,
    crop_positions,
    crop_region,
    diffusers_linspace_positions,
    divided_positions,
    grid_positions,
    latent_grid,
    linspace_positions,
    slice_positions,
)
from .embeddings import PositionTable, RotaryEmbedding3D
from .rope import (
    IMPLS,
    LAYOUTS,
    apply_rope,
    default_split,
    layout_permutation,
    rope_1d,
    rope_3d,
    rope_frequencies,
    rotate_halves,
    rotate_pairs,
    to_half_layout,
    to_interleaved_layout,
)
from .model import ModelConfig, VideoDiT, patchify, strategy_family, unpatchify
from .resample import (
    align_corners_coordinates,
    asymmetric_coordinates,
    half_pixel_coordinates,
    kernel_gain,
    resample_table,
    resample_table_3d,
    resample_video_table,
    source_coordinates,
)
from .rope_complex import apply_rope_complex, rope_complex_table
from .scaling import scale_factors
from .strategy import STRATEGIES, Strategy, as_strategy, from_rope_scaling
from .strategy_tables import attention_scale, scaled_axes, scaled_rope_3d, scaled_sincos_3d
from .sincos import sincos_1d, sincos_2d, sincos_3d, sincos_frequencies

__version__ = "0.1.0"

__all__ = [
    "align_corners_coordinates",
    "apply_rope",
    "as_strategy",
    "apply_rope_complex",
    "arange_positions",
    "asymmetric_coordinates",
    "attention_scale",
    "CogVideoXConfig",
    "crop_positions",
    "crop_region",
    "DataConfig",
    "from_rope_scaling",
    "default_split",
    "diffusers_linspace_positions",
    "diffusers_rope_tables",
    "diffusers_sincos_table",
    "divided_positions",
    "get_preset",
    "grid_positions",
    "half_pixel_coordinates",
    "IMPLS",
    "kernel_gain",
    "latent_grid",
    "layout_permutation",
    "LAYOUTS",
    "linspace_positions",
    "ModelConfig",
    "patchify",
    "PositionTable",
    "PRESETS",
    "render",
    "resample_table",
    "resample_table_3d",
    "resample_video_table",
    "rope_1d",
    "rope_3d",
    "rope_complex_table",
    "rope_frequencies",
    "RotaryEmbedding3D",
    "rotate_halves",
    "rotate_pairs",
    "sample_scenes",
    "sat_rope_tables",
    "sat_sincos_table",
    "scale_factors",
    "scaled_axes",
    "scaled_rope_3d",
    "scaled_sincos_3d",
    "Scene",
    "sincos_1d",
    "sincos_2d",
    "sincos_3d",
    "sincos_frequencies",
    "slice_positions",
    "source_coordinates",
    "STRATEGIES",
    "Strategy",
    "strategy_family",
    "to_half_layout",
    "to_interleaved_layout",
    "token_grid",
    "trajectory",
    "unpatchify",
    "VideoDataset",
    "VideoDiT",
]
