"""Which diffusers video transformers the adapters take, and what is read from each: split, θ, patch, grids.

Supported diffusers: :data:`DIFFUSERS_RANGE`, 0.35.0 (from which Wan's rotary module returns ``(cos,
sin)``; SkyReels-V2's from 0.36.0) to 0.42.1, both tested; an older one is refused naming the version
to install (:func:`check_diffusers_version`), and classes a version lacks are not offered.
Facts from diffusers 0.42 (``diffusers/models/transformers/``), each turned into a
:class:`cogpe.adapters.models.RopeModel` by :func:`read_model`:

- **CogVideoX with RoPE** — ``CogVideoXTransformer3DModel``, ``use_rotary_positional_embeddings=True``.
  Head ``d`` split ``(d/4, 3d/8, 3d/8)``, θ 10000 (``get_3d_rotary_pos_embed``'s default; no config
  field). The *pipeline* builds the tables and passes them as ``image_rotary_emb``; latents ``(B, F, C,
  H, W)``. **1.0** (5B, 5B-I2V's RoPE): no ``patch_size_t``; ``8N+1`` frames (CogVideo #340); default
  ``base_grid`` the config's ``sample_frames`` × ``sample_height`` × ``sample_width`` (49 frames, 60×90
  latent → 13×30×45 tokens): the training grid, and the box diffusers' crop region is taken in.
  **1.5**: ``patch_size_t`` 2; ``16N+1`` frames (CogVideo #517); its config's ``sample_height`` ×
  ``sample_width`` latent is the table its pipeline slices integer positions from (``grid_type="slice"``),
  so the pipeline takes grids up to ``sample_* // 2`` tokens per axis and fails beyond. That size is
  read from the config, as it differs between releases: 300×300 in the conversion script's (150×150
  tokens, larger than any training size), 96×170 in later ones (48×85 tokens: the 768×1360 training
  size, CogVideo #681, beyond which a portrait 1360×768 video cannot run, CogVideo #758). The default
  ``base_grid`` is that grid, so a strategy keeps the pipeline's positions wherever the pipeline runs;
  for 1.5-I2V (``in_channels = 2 × out_channels``, 32), whose model card allows either orientation
  (short side 768), it and its transpose. Under a strategy the pipeline's own table is not built, so
  every size runs (see
  :mod:`cogpe.adapters.hooks`); pass ``base_grid="cogvideox1.5-5b"`` (11×48×85) to scale from the
  training size whatever the config says. 5B-I2V
  (``use_learned_positional_embeddings=True``) adds a learned table in its patch embedding on top of
  RoPE: a :class:`~cogpe.adapters.models.PatchTable` of kind ``"learned"`` (:mod:`cogpe.adapters.patch_tables`).
- **ConsisID** (``ConsisIDTransformer3DModel``) — CogVideoX 1.0's transformer (5B-I2V's layout, with
  face-conditioning modules beside it) under its own class: the same patch embedding, blocks and
  ``image_rotary_emb``, whose tables its pipeline builds as CogVideoX 1.0's does (crop region of the
  config's sample grid); its config has no ``patch_size_t``. Read as CogVideoX 1.0, named ``"ConsisID"``.
- **CogVideoX-2B** — the same class with ``use_rotary_positional_embeddings=False``: no RoPE; its patch
  embedding adds a sincos table (chapter 2) on positions ``arange(n) / scale``, ``scale`` the config's
  ``temporal_interpolation_scale`` (1) and ``spatial_interpolation_scale`` (1.875), ``(t, w, h)``
  channels ``(D/4, 3D/8, 3D/8)`` of the width ``D = heads × head_dim``. ``tables_at="patch_embed"``;
  the default ``base_grid`` is the config's sample grid as for 1.0 (13×30×45), where the model sees its
  own positions.
- **Wan 2.x** — ``WanTransformer3DModel``. ``WanRotaryPosEmbed`` splits a head of ``d`` channels into
  ``t = d − 4⌊d/6⌋``, ``h = w = 2⌊d/6⌋`` (128 → 44, 42, 42), θ 10000 (its default; the transformer
  passes none); float64 angles (float32 where the MPS backend is available) of integer positions
  ``0 … rope_max_seq_len − 1`` are computed once on the CPU, as buffers, and sliced ``[:n]`` per axis
  into ``(1, N, 1, d)`` tables, interleaved pairs (the processor reads ``cos[..., 0::2]``,
  ``sin[..., 1::2]``). The transformer builds them in its own ``forward``
  (``self.rope(hidden_states)``, latents ``(B, C, F, H, W)``, ``patch_size`` ``(1, 2, 2)``). q and k pass
  ``norm_q`` / ``norm_k`` (RMSNorm across all heads) before RoPE; self-attention (``attn1``) holds video
  tokens only — text enters through the cross-attention ``attn2``, which has no RoPE. Frames ``4N+1``
  (``WanPipeline`` rounds other counts down with a warning; the adapter refuses them, naming valid ones).
  Wan 2.2 A14B pipelines hold two transformers (``transformer``, ``transformer_2``: high- and low-noise
  experts); a pipeline target adapts both.
- **Wan VACE** (``WanVACETransformer3DModel``) and **SkyReels-V2** (``SkyReelsV2Transformer3DModel``) —
  Wan's architecture under other class names: the same rotary module (SkyReels-V2's own copy of it),
  built once in ``forward`` from the latents and given to every block; VACE's control blocks
  (``vace_blocks``) rotate their q and k with it too. Wan's facts hold; VACE's sizes are Wan's (1.3B
  480p, 14B 480p and 720p), SkyReels-V2's its own (540P, 720P; :mod:`cogpe.adapters.presets`).
- **HunyuanVideo** — ``HunyuanVideoTransformer3DModel``. ``rope_axes_dim`` (16, 56, 56) and
  ``rope_theta`` 256 from the config; float32 integer positions, ``get_1d_rotary_pos_embed`` in float32,
  ``(N, d)`` interleaved tables built in ``forward`` (``self.rope(hidden_states)``, latents ``(B, C, F,
  H, W)``, patch ``(patch_size_t, patch_size, patch_size)`` = ``(1, 2, 2)``). Dual-stream blocks take
  video q from ``norm_q(to_q(·))`` and text q from ``norm_added_q(add_q_proj(·))``; single-stream blocks
  one ``norm_q(to_q(·))`` over video and text together; RoPE rotates the video tokens only. The token
  refiner's attention (text only, no RoPE) is left alone. Frames ``4N+1`` (the VAE's).

- **HunyuanVideo 1.5** — ``HunyuanVideo15Transformer3DModel``: HunyuanVideo's rotary arithmetic
  (``rope_axes_dim``, ``rope_theta``, float32 integer positions, ``(N, d)`` interleaved tables from its
  ``rope`` module), dual-stream blocks only, a 16× VAE and ``patch_size`` 1. It is trained on
  aspect-ratio buckets of about ``target_size²`` pixels, a config field: its default base grids are those
  buckets (:func:`cogpe.adapters.presets.bucket_grids`), at 121 frames.

- **Mochi** — ``MochiTransformer3DModel``: learned frequencies ``pos_frequencies`` ``(3, heads,
  head_dim/2)`` mixing t, h and w in every pair, on centred positions whose spatial spacing keeps a fixed
  area (:mod:`cogpe.adapters.mochi`, which says what a strategy means there); tables ``(N, heads,
  head_dim/2)`` built in ``forward`` as ``self.rope(self.pos_frequencies, T, H, W)``, latents ``(B, C,
  F, H, W)``, patch ``(1, patch_size, patch_size)``. Joint attention: video q from ``norm_q``, text q
  from ``norm_added_q``; RoPE rotates the video tokens only. Frames ``6N+1`` (its VAE compresses time
  6×). Only ``"extrapolate"``, ``"interpolate"`` and ``"scale-shift"`` have a meaning for it; the others are refused.

- **Allegro** — ``AllegroTransformer3DModel``: positions ``m / interpolation_scale_t/h/w`` (config:
  2.2, 2, 2), θ 10000, three equal blocks of ``d/3`` channels rotated in halves, through per-axis
  tables its *pipeline* builds and passes as ``image_rotary_emb`` (none given: no rotation); latents
  ``(B, C, F, H, W)``, patch ``(patch_size_t, patch_size, patch_size)``, no qk-norm (q from ``to_q``).
  The default ``base_grid`` is the config's ``sample_*`` latent grid patched (22 × 45 × 80: 88 frames
  at 720 × 1280). A strategy counts turns with its radians per token ``θ_j / scale``
  (``cogpe.adapters.allegro``, which says what each strategy means there); the crop strategies,
  made for CogVideoX 1.0's pipeline, are refused.

- **LTX-Video** — ``LTXVideoTransformer3DModel``: one rotary table for the whole width ``heads ×
  head_dim`` (after ``norm_q``/``norm_k``, across heads), built in ``forward`` by ``self.rope(hidden_states,
  num_frames, height, width, rope_interpolation_scale, video_coords)`` from packed latents ``(B, N, C)``:
  positions ``m · r · p / base`` (``r`` the call's ``rope_interpolation_scale``, the base 20 frames and
  2048 pixels) mapped onto ``[−1, 1]``, frequencies rising from ``π/2`` to ``θ·π/2``, ``dim // 6`` pairs
  per axis interleaved across the axes. Patch 1, frames ``8N+1`` (VAE 8× in time, 32× in space). Its
  ``split`` is ``(2K, 2K, 2K)``, ``K = dim // 6``, beside ``dim % 6`` unrotated channels. Default base
  grids: the preset ``"ltx-video"`` (:mod:`cogpe.adapters.presets`). A strategy counts turns with its
  radians per token at the call's frame rate (``cogpe.adapters.ltx``, which says what NTK means
  there); the crop strategies and ``video_coords`` (``LTXConditionPipeline``) are refused; compiled,
  its tables are built eagerly (a graph break).

- **Cosmos** — ``CosmosTransformer3DModel`` (Cosmos 1.0, 2, 2.5): head split ``t = d − 2·2⌊d/6⌋``,
  ``h = w = 2⌊d/6⌋``, θ per axis ``10000 · rope_scale^(d/(d−2))`` (the config's ``rope_scale``), float32
  positions ``0 … n−1`` — time times ``base_fps / fps`` of the call — from one ``arange`` of
  ``max(max_size / patch)`` (the longest axis it reaches), ``(N, d)`` tables in halves built in
  ``forward`` as ``self.rope(hidden_states, fps=fps)``, latents ``(B, C, F, H, W)``, patch ``(1, 2, 2)``;
  q from ``norm_q``. Cosmos 1.0 (told by its learned table, ``extra_pos_embed_type="learnable"``, which
  a strategy leaves alone) has 8N+1 frames through an 8× VAE and the preset ``"cosmos-1.0"``; later
  ones 4N+1 through Wan 2.1's and ``"cosmos-2"``. A strategy counts turns with its radians per token at
  the call's ``fps`` (``cogpe.adapters.cosmos``); the crop strategies are refused; compiled, its
  tables are built eagerly (a graph break).

Not supported, refused by class (:data:`LEFT_OUT`, whose reasons the TypeError gives): LTX-2
(``LTX2VideoTransformer3DModel``), whose audio-video transformer rotates video, audio and the attention
between them by coordinates on one timeline, so that a strategy on the video grid alone would move the
video against its audio.

Wan's, HunyuanVideo's, Mochi's, LTX-Video's and Cosmos's configs do not hold their training grids: their
default ``base_grid`` is a named preset (:mod:`cogpe.adapters.presets`). diffusers is imported inside the functions that need it,
never when :mod:`cogpe` is imported.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Mapping

import torch

from .._checks import check_size, check_split
from ..rope import default_split
from .compiled import is_compiled, unwrap_compiled
from ..strategy import PER_TOKEN
from .allegro import table_builder as allegro_builder
from .cosmos import COSMOS_BASE_FPS, cosmos_split
from .cosmos import table_builder as cosmos_builder
from .ltx import LTX_BASE
from .ltx import table_builder as ltx_builder
from .mochi import MOCHI_STRATEGIES, MOCHI_TARGET_AREA, position_builder
from .models import PatchTable, RopeModel
from .presets import bucket_grids, default_preset, preset_grids
from .tables import Build, Grid

__all__ = [
    "DIFFUSERS_RANGE", "LEFT_OUT", "SUPPORTED_TRANSFORMERS", "check_diffusers_version", "find_transformers", "query_attentions",
    "query_modules", "read_model", "table_builder", "trained_grid",
]

# Each supported class: its module, its family, and the model name it is read as (RopeModel.name; None:
# CogVideoX's version, read from the config).
_CLASSES = {
    "CogVideoXTransformer3DModel": ("cogvideox_transformer_3d", "CogVideoX", None),
    "ConsisIDTransformer3DModel": ("consisid_transformer_3d", "CogVideoX", "ConsisID"),
    "WanTransformer3DModel": ("transformer_wan", "Wan", "Wan"),
    "WanVACETransformer3DModel": ("transformer_wan_vace", "Wan", "Wan VACE"),
    "SkyReelsV2Transformer3DModel": ("transformer_skyreels_v2", "Wan", "SkyReels-V2"),
    "HunyuanVideoTransformer3DModel": ("transformer_hunyuan_video", "HunyuanVideo", "HunyuanVideo"),
    "HunyuanVideo15Transformer3DModel": ("transformer_hunyuan_video15", "HunyuanVideo", "HunyuanVideo 1.5"),
    "MochiTransformer3DModel": ("transformer_mochi", "Mochi", "Mochi"),
    "AllegroTransformer3DModel": ("transformer_allegro", "Allegro", "Allegro"),
    "LTXVideoTransformer3DModel": ("transformer_ltx", "LTX-Video", "LTX-Video"),
    "CosmosTransformer3DModel": ("transformer_cosmos", "Cosmos", None),
}
#: The diffusers transformer classes :func:`cogpe.adapters.use_strategy` takes (subclasses included).
SUPPORTED_TRANSFORMERS = tuple(_CLASSES)
#: RoPE video transformers :func:`cogpe.adapters.use_strategy` refuses by class, each with the reason.
LEFT_OUT = {
    "LTX2VideoTransformer3DModel": "LTX-2's audio-video transformer rotates video, audio and the attention between "
                                   "them by coordinates on one timeline (LTX2AudioVideoRotaryPosEmbed); a strategy on "
                                   "the video grid alone would move the video against its audio",
}
#: The diffusers versions the adapters are tested with (the oldest and the newest). 0.35.0 is the first whose
#: Wan rotary module returns ``(cos, sin)`` tables, which the adapters replace (before: one complex tensor).
DIFFUSERS_RANGE = ("0.35.0", "0.42.1")
# classes whose rotary module took that form later than DIFFUSERS_RANGE[0]
_CLASS_FLOORS = {"SkyReelsV2Transformer3DModel": "0.36.0"}
# The attributes a pipeline keeps its transformers in (Wan 2.2 A14B: two experts).
_PIPELINE_SLOTS = ("transformer", "transformer_2")
_COGVIDEOX_THETA = 10000.0  # get_3d_rotary_pos_embed's default; no config field
_WAN_THETA = 10000.0  # WanRotaryPosEmbed's default; WanTransformer3DModel passes none
_COGVIDEOX_FRAME_STEPS = {"CogVideoX 1.0": 8, "CogVideoX 1.5": 16}  # frames must be step·N + 1
_VAE_FRAME_STEP = 4  # Wan's and HunyuanVideo's VAEs: 4N+1 frames
_MOCHI_FRAME_STEP = 6  # Mochi's VAE: 6N+1 frames
_ALLEGRO_THETA = 10000.0  # get_3d_rotary_pos_embed_allegro's default; the pipeline passes none


def _version(text: str) -> tuple[int, int, int]:
    """``"0.35.2"`` (or ``"0.36.0.dev0"``) -> ``(0, 35, 2)``."""
    parts = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if parts is None:
        raise ValueError(f"cannot read a version from {text!r}")
    major, minor, patch = parts.groups()
    return int(major), int(minor), int(patch or 0)


def check_diffusers_version(installed: str, transformer_class: str | None = None) -> None:
    """RuntimeError naming the version to install where ``installed`` is older than the adapters (or the
    transformer class) need: the rotary tables the hooks replace changed form at that version."""
    floor = _CLASS_FLOORS.get(transformer_class or "", DIFFUSERS_RANGE[0])
    if _version(installed) < _version(floor):
        what = f"{transformer_class} needs" if transformer_class in _CLASS_FLOORS else "cogpe.adapters needs"
        raise RuntimeError(
            f"{what} diffusers >= {floor}, from which its rotary module returns (cos, sin) tables (before: one "
            f"complex tensor, which the adapters do not replace); diffusers {installed} is installed: "
            f"pip install -U 'diffusers>={floor}' (tested: {DIFFUSERS_RANGE[0]} to {DIFFUSERS_RANGE[1]})"
        )


def _classes() -> dict[type, str]:
    """Supported class -> its name in :data:`SUPPORTED_TRANSFORMERS`, for the classes the installed diffusers has."""
    found = {}
    for name, (module, _, _) in _CLASSES.items():
        try:
            cls = getattr(importlib.import_module(f"diffusers.models.transformers.{module}"), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(cls, type):
            found[cls] = name
    return found


def _class_name(module: object, classes: Mapping[type, str]) -> str | None:
    if not isinstance(module, torch.nn.Module):
        return None
    return next((name for cls, name in classes.items() if isinstance(module, cls)), None)


def _family(module: object, classes: Mapping[type, str]) -> str | None:
    name = _class_name(module, classes)
    return None if name is None else _CLASSES[name][1]


def find_transformers(target: object) -> tuple[tuple[torch.nn.Module, ...], object | None, bool]:
    """``(transformers, pipeline or None, compiled)`` of ``target``: a supported transformer, or a pipeline holding some.

    A pipeline's transformers are its ``transformer`` and, where set, ``transformer_2`` (Wan 2.2 A14B).
    A ``torch.compile(transformer)`` wrapper, given or held, stands for the transformer it wraps;
    ``compiled`` says whether one was found or a transformer was compiled in place
    (:mod:`cogpe.adapters.compiled`). TypeError naming :data:`SUPPORTED_TRANSFORMERS` for anything else.
    """
    classes = _classes()
    supported = ", ".join(SUPPORTED_TRANSFORMERS)
    if not classes:
        raise TypeError(f"use_strategy adapts diffusers models ({supported}), but diffusers is not installed")
    inner, wrapped = unwrap_compiled(target)
    if isinstance(inner, torch.nn.Module) and _family(inner, classes) is not None:
        return (inner,), None, wrapped or is_compiled(inner)
    held = [unwrap_compiled(getattr(target, slot, None)) for slot in _PIPELINE_SLOTS]
    modules = [(m, was) for m, was in held if isinstance(m, torch.nn.Module)]
    found = tuple(m for m, _ in modules if _family(m, classes) is not None)
    foreign = [m for m, _ in modules if _family(m, classes) is None]
    if foreign:
        why = LEFT_OUT.get(type(foreign[0]).__name__)
        raise TypeError(
            f"target {type(target).__name__} has a transformer of class {type(foreign[0]).__name__}, which "
            f"use_strategy does not support yet; supported transformers: {supported}" + ("" if why is None else f". {why}")
        )
    if found:
        return found, target, any(was for _, was in modules) or any(is_compiled(m) for m in found)
    if isinstance(inner, torch.nn.Module):
        why = LEFT_OUT.get(type(inner).__name__)
        raise TypeError(
            f"target is a {type(inner).__name__}, which use_strategy does not support yet; "
            f"supported transformers: {supported}" + ("" if why is None else f". {why}")
        )
    raise TypeError(
        f"target must be a diffusers pipeline (an object with a .transformer) or the transformer itself, got "
        f"{type(target).__name__}; supported transformers: {supported}"
    )


def read_model(transformer: torch.nn.Module) -> RopeModel:
    """The :class:`~cogpe.adapters.models.RopeModel` of a supported transformer (module docstring)."""
    found = _class_name(transformer, _classes())
    if found is None:
        raise TypeError(f"{type(transformer).__name__} is not one of {', '.join(SUPPORTED_TRANSFORMERS)}")
    check_diffusers_version(importlib.import_module("diffusers").__version__, found)  # before any internal is read
    _, family, name = _CLASSES[found]
    config: Mapping[str, Any] = getattr(transformer, "config")
    if family == "CogVideoX":
        return _cogvideox(transformer, config, name)
    if family == "Wan":
        return _wan(config, name or family)
    if family == "Mochi":
        return _mochi(transformer, config)
    if family == "Allegro":
        return _allegro(config)
    if family == "LTX-Video":
        return _ltx(transformer, config)
    if family == "Cosmos":
        return _cosmos(transformer, config)
    return _hunyuan(config, name or family)


def trained_grid(config: Mapping[str, Any]) -> Grid:
    """The default ``base_grid`` ``(T0, H0, W0)`` in tokens of a CogVideoX transformer config (module docstring).

    ``config`` is ``transformer.config`` or a ``config.json`` as a dict; ``patch_size_t`` and
    ``temporal_compression_ratio`` default to diffusers' None and 4.

    >>> trained_grid({"sample_frames": 49, "sample_height": 60, "sample_width": 90, "patch_size": 2})
    (13, 30, 45)
    >>> trained_grid({"sample_frames": 81, "sample_height": 300, "sample_width": 300, "patch_size": 2,
    ...               "patch_size_t": 2})   # CogVideoX 1.5: the slice table, not 768×1360
    (11, 150, 150)
    """
    p = check_size("patch_size", config["patch_size"])
    pt = config.get("patch_size_t")
    tc = check_size("temporal_compression_ratio", config.get("temporal_compression_ratio", 4))
    frames = check_size("sample_frames", config["sample_frames"], what="frames")
    t = (frames - 1) // tc + 1  # latent frames
    if pt is not None:
        t = -(-t // check_size("patch_size_t", pt))  # padded up to a multiple of patch_size_t, then grouped
    h, w = (check_size(k, config[k], what="latent pixels") // p for k in ("sample_height", "sample_width"))
    return t, h, w


def _cogvideox(transformer: torch.nn.Module, config: Mapping[str, Any], label: str | None) -> RopeModel:
    head_dim = check_size("attention_head_dim", config["attention_head_dim"], what="channels")
    pt, p = config.get("patch_size_t"), int(config["patch_size"])  # ConsisID's config has no patch_size_t
    version = "CogVideoX 1.0" if pt is None else "CogVideoX 1.5"
    name = label or version
    rope = bool(config["use_rotary_positional_embeddings"])
    learned = bool(config.get("use_learned_positional_embeddings", False))  # only with RoPE: diffusers refuses others
    grid = trained_grid(config)
    grids: tuple[Grid, ...] = (grid,)
    image = int(config["in_channels"]) == 2 * int(config["out_channels"])  # I2V: latents and image latents
    if pt is not None and image:  # 1.5 I2V: both orientations (module docstring)
        grids = tuple(dict.fromkeys([grid, (grid[0], grid[2], grid[1])]))
    table = None
    if learned or not rope:
        spatial = float(config.get("spatial_interpolation_scale", 1.875))
        table = PatchTable(
            kind="learned" if learned else "sincos",
            dim=check_size("num_attention_heads", config["num_attention_heads"], what="heads") * head_dim,
            text_rows=int(config["max_text_seq_length"]),
            scale=(float(config.get("temporal_interpolation_scale", 1.0)), spatial, spatial), grid=grid,
        )
    return RopeModel(
        family="CogVideoX", name=name, head_dim=head_dim, split=default_split(head_dim), theta=_COGVIDEOX_THETA,
        patch=(1 if pt is None else int(pt), p, p), temporal_compression=int(config["temporal_compression_ratio"]),
        base_grids=grids, frame_step=_COGVIDEOX_FRAME_STEPS[version], latents="BFCHW",
        tables_at="argument" if rope else "patch_embed", sample_frames=int(config["sample_frames"]),
        sample_hw=(int(config["sample_height"]), int(config["sample_width"])), patch_table=table,
    )


def _wan(config: Mapping[str, Any], name: str) -> RopeModel:
    head_dim = check_size("attention_head_dim", config["attention_head_dim"], what="channels")
    hw = 2 * (head_dim // 6)
    if hw == 0:
        raise ValueError(f"attention_head_dim={head_dim} leaves WanRotaryPosEmbed no h, w channels (2⌊d/6⌋ = 0)")
    split = check_split("Wan's (t, h, w) split", (head_dim - 2 * hw, hw, hw), head_dim, "attention_head_dim")
    pt, ph, pw = (check_size(f"patch_size[{i}]", p) for i, p in enumerate(config["patch_size"]))
    preset = default_preset("SkyReels-V2" if name == "SkyReels-V2" else "Wan", config)
    limit = check_size("rope_max_seq_len", config["rope_max_seq_len"])
    model = RopeModel(
        family="Wan", name=name, head_dim=head_dim, split=split, theta=_WAN_THETA, patch=(pt, ph, pw),
        temporal_compression=4, base_grids=preset_grids(preset, "Wan"), frame_step=_VAE_FRAME_STEP,
        latents="BCFHW", tables_at="rope", kept_dtype=_wan_dtype(), max_positions=limit, preset=preset,
    )
    return model


def _wan_dtype() -> torch.dtype:
    """The dtype of WanRotaryPosEmbed's angles: float64, float32 where the MPS backend is available (its rule)."""
    return torch.float32 if torch.backends.mps.is_available() else torch.float64


def _hunyuan(config: Mapping[str, Any], name: str) -> RopeModel:
    head_dim = check_size("attention_head_dim", config["attention_head_dim"], what="channels")
    split = check_split("rope_axes_dim", tuple(config["rope_axes_dim"]), head_dim, "attention_head_dim")
    p, pt = check_size("patch_size", config["patch_size"]), check_size("patch_size_t", config["patch_size_t"])
    if name == "HunyuanVideo 1.5":  # its training buckets at the config's target_size (module docstring)
        target = check_size("target_size", config["target_size"], what="pixels")
        preset, grids = None, bucket_grids(target, patch=(pt, p, p))
    else:
        preset = default_preset("HunyuanVideo", config)
        grids = preset_grids(preset, "HunyuanVideo")
    return RopeModel(
        family="HunyuanVideo", name=name, head_dim=head_dim, split=split, theta=float(config["rope_theta"]),
        patch=(pt, p, p), temporal_compression=4, base_grids=grids, frame_step=_VAE_FRAME_STEP, latents="BCFHW",
        tables_at="rope", preset=preset,
    )


def _mochi(transformer: torch.nn.Module, config: Mapping[str, Any]) -> RopeModel:
    head_dim = check_size("attention_head_dim", config["attention_head_dim"], what="channels")
    p = check_size("patch_size", config["patch_size"])
    area = float(getattr(getattr(transformer, "rope"), "target_area", MOCHI_TARGET_AREA))
    return RopeModel(
        family="Mochi", name="Mochi", head_dim=head_dim, split=(0, 0, 0), theta=0.0, patch=(1, p, p),
        temporal_compression=_MOCHI_FRAME_STEP, base_grids=preset_grids("mochi", "Mochi"),
        frame_step=_MOCHI_FRAME_STEP, latents="BCFHW", tables_at="rope", preset="mochi",
        strategies=MOCHI_STRATEGIES, target_area=area,
    )


def _allegro(config: Mapping[str, Any]) -> RopeModel:
    head_dim = check_size("attention_head_dim", config["attention_head_dim"], what="channels")
    if head_dim % 6:
        raise ValueError(f"attention_head_dim={head_dim} cannot split into Allegro's three equal blocks of even "
                         "channels (x.chunk(3), rotated in halves); use a multiple of 6")
    p, pt = check_size("patch_size", config["patch_size"]), check_size("patch_size_t", config["patch_size_t"])
    values = [config.get(f"interpolation_scale_{a}") for a in "thw"]
    scales = tuple(float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0)
    if len(scales) != 3:
        raise ValueError(f"Allegro's interpolation_scale_t/h/w must be positive numbers (its pipeline divides the "
                         f"positions by them), got {tuple(values)}; set them in the transformer's config")
    grid = (check_size("sample_frames", config["sample_frames"], what="latent frames") // pt,
            check_size("sample_height", config["sample_height"], what="latent pixels") // p,
            check_size("sample_width", config["sample_width"], what="latent pixels") // p)
    return RopeModel(
        family="Allegro", name="Allegro", head_dim=head_dim, split=(head_dim // 3,) * 3, theta=_ALLEGRO_THETA,
        patch=(pt, p, p), temporal_compression=4, base_grids=(grid,), frame_step=1, latents="BCFHW",
        tables_at="transformer", strategies=PER_TOKEN, rope_config=scales,
        sample_frames=grid[0] * pt * 4, sample_hw=(int(config["sample_height"]), int(config["sample_width"])),
    )


def _ltx(transformer: torch.nn.Module, config: Mapping[str, Any]) -> RopeModel:
    heads = check_size("num_attention_heads", config["num_attention_heads"], what="heads")
    dim = heads * check_size("attention_head_dim", config["attention_head_dim"], what="channels")
    p, pt = check_size("patch_size", config["patch_size"]), check_size("patch_size_t", config["patch_size_t"])
    if (p, pt) != (1, 1):
        raise ValueError(f"LTX-Video with patch_size={p}, patch_size_t={pt}: its rope counts positions per latent "
                         "pixel and frame, so use_strategy takes patch 1 only (every release)")
    if dim < 12:
        raise ValueError(f"LTX-Video's rotary width {dim} (heads × head_dim) leaves fewer than 2 pairs per axis (dim // 6)")
    rope = getattr(transformer, "rope")
    base = tuple(float(getattr(rope, f"base_{k}", b)) for k, b in zip(("num_frames", "height", "width"), LTX_BASE))
    theta = float(getattr(rope, "theta", _ALLEGRO_THETA))
    pairs = dim // 6
    return RopeModel(
        family="LTX-Video", name="LTX-Video", head_dim=dim, split=(2 * pairs,) * 3, theta=theta, patch=(1, 1, 1),
        temporal_compression=8, base_grids=preset_grids("ltx-video", "LTX-Video"), frame_step=8, latents="BCFHW",
        tables_at="rope", preset="ltx-video", strategies=PER_TOKEN, rope_config=base,
    )


def _cosmos(transformer: torch.nn.Module, config: Mapping[str, Any]) -> RopeModel:
    head_dim = check_size("attention_head_dim", config["attention_head_dim"], what="channels")
    split = cosmos_split(head_dim)
    if min(split) < 4:
        raise ValueError(f"attention_head_dim={head_dim} gives Cosmos's axes {split} channels; NTK's exponent "
                         "d/(d−2) needs at least 4 per axis (a head of at least 12)")
    pt, ph, pw = (check_size(f"patch_size[{i}]", p) for i, p in enumerate(config["patch_size"]))
    scale = tuple(float(r) for r in config["rope_scale"])
    rope = getattr(transformer, "rope")
    learned = config.get("extra_pos_embed_type") == "learnable"  # Cosmos 1.0 (module docstring)
    preset = "cosmos-1.0" if learned else "cosmos-2"
    return RopeModel(
        family="Cosmos", name="Cosmos 1.0" if learned else "Cosmos 2", head_dim=head_dim, split=split,
        theta=10000.0, patch=(pt, ph, pw), temporal_compression=8 if learned else 4,
        base_grids=preset_grids(preset, "Cosmos"), frame_step=8 if learned else 4, latents="BCFHW", tables_at="rope",
        max_positions=max(int(n) for n in getattr(rope, "max_size")), preset=preset, strategies=PER_TOKEN,
        rope_config=(*scale, float(getattr(rope, "base_fps", COSMOS_BASE_FPS))),
    )


def table_builder(model: RopeModel) -> Build | None:
    """How a :class:`~cogpe.adapters.tables.TableCache` builds ``model``'s tables where not by
    :func:`~cogpe.adapters.tables.strategy_tables`: Mochi's positions, Allegro's tables; else None."""
    if model.family == "Mochi" and model.target_area is not None:
        return position_builder(model.target_area)
    if model.family == "Allegro" and model.rope_config is not None:
        return allegro_builder(model.split, model.rope_config, model.theta)
    if model.family == "LTX-Video" and model.rope_config is not None:
        return ltx_builder(model.head_dim, model.patch, model.rope_config, model.theta)
    if model.family == "Cosmos" and model.rope_config is not None:
        return cosmos_builder(model.split, model.rope_config[:3], model.rope_config[3])
    return None


def query_attentions(transformer: torch.nn.Module, family: str) -> list[torch.nn.Module]:
    """The attentions that rotate q and k (module docstring): ``attn1`` of each block, HunyuanVideo's ``attn``."""
    if family == "CogVideoX":
        return [block.attn1 for block in getattr(transformer, "transformer_blocks")]
    if family == "Wan":  # Wan VACE: its control blocks too
        blocks = [*getattr(transformer, "blocks"), *getattr(transformer, "vace_blocks", [])]
        return [block.attn1 for block in blocks]
    if family in ("Mochi", "Allegro", "LTX-Video", "Cosmos"):
        return [block.attn1 for block in getattr(transformer, "transformer_blocks")]
    # HunyuanVideo 1.5 has dual-stream blocks only
    blocks = [*getattr(transformer, "transformer_blocks"), *getattr(transformer, "single_transformer_blocks", [])]
    return [block.attn for block in blocks]


def query_modules(transformer: torch.nn.Module, family: str) -> list[torch.nn.Module]:
    """The modules whose outputs are every query of a RoPE attention, after qk-norm and before RoPE.

    Per attention ``norm_q`` (or ``to_q`` where it has no qk-norm), and for the text stream of joint
    attentions (HunyuanVideo's dual-stream blocks) ``norm_added_q`` (or ``add_q_proj``). ValueError
    where q cannot be reached alone (fused projections without qk-norm).
    """
    found = []
    for attn in query_attentions(transformer, family):
        for norm, projection in (("norm_q", "to_q"), ("norm_added_q", "add_q_proj")):
            if getattr(attn, projection, None) is None and getattr(attn, norm, None) is None:
                continue  # no such stream (no added projections)
            module = getattr(attn, norm, None)
            if module is None and getattr(attn, "fused_projections", False):
                raise ValueError(
                    "an attention of this transformer has fused q/k/v projections and no qk-norm, so q cannot be "
                    "scaled alone; call transformer.unfuse_qkv_projections() first"
                )
            found.append(module if module is not None else getattr(attn, projection))
    return found
