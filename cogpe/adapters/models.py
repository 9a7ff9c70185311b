"""Which diffusers models the adapters take, and what they read from them: grids, channel split, input rules.

So far the CogVideoX models with 3-D RoPE — ``CogVideoXTransformer3DModel`` with
``use_rotary_positional_embeddings=True``:

- **CogVideoX 1.0 5B** (and 5B-I2V's RoPE): ``patch_size`` 2, no ``patch_size_t``; ``8N+1`` frames
  (CogVideo #340); config ``sample_frames`` 49, ``sample_height × sample_width`` 60×90 latent → default
  ``base_grid`` 13×30×45 tokens: the training grid, and the box diffusers' crop region is taken in.
- **CogVideoX 1.5**: ``patch_size`` 2, ``patch_size_t`` 2; ``16N+1`` frames (CogVideo #517); config
  ``sample_frames`` 81 → 21 latent frames, padded to 22 → 11 tokens; ``sample_height × sample_width``
  300×300 latent → 150×150 tokens.

The default ``base_grid`` reads the config literally: ``T0`` from ``sample_frames`` through the VAE's
temporal compression (``(F − 1)//4 + 1`` latent frames, padded up to a multiple of ``patch_size_t``
and grouped), ``H0, W0 = sample_height // patch_size, sample_width // patch_size``. For CogVideoX 1.0
that is the grid it was trained on. CogVideoX 1.5's config does not hold its training resolution
(768×1360 = 48×85 tokens, per its model card; CogVideo #681): its ``sample_height/width`` are the
size of the table its pipeline slices integer positions from (``grid_type="slice"``, ``max_size``
150×150), so by default a strategy keeps the pipeline's integer positions up to 150 tokens per axis;
pass ``base_grid=(11, 48, 85)`` to scale relative to the training resolution (CogVideo #517 also
recommends 161 frames, 21 tokens: with ``T0 = 11`` a strategy treats them as twice the length).

CogVideoX-2B adds a sincos table in its patch embedding instead (chapter 2) and CogVideoX-5B-I2V a
learned table on top of RoPE (chapter 5); those tables are not adapted yet: 2B is refused, and on
5B-I2V only the RoPE tables change.

diffusers is imported inside the functions that need it, never when :mod:`cogpe` is imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from .._checks import check_size
from ..grids import latent_grid
from ..rope import default_split
from .tables import Grid

__all__ = ["SUPPORTED_TRANSFORMERS", "RopeModel", "find_transformer", "query_modules", "read_model", "trained_grid"]

#: The diffusers transformer classes :func:`cogpe.adapters.use_strategy` takes (subclasses included).
SUPPORTED_TRANSFORMERS = ("CogVideoXTransformer3DModel",)

_THETA = 10000.0  # CogVideoX's RoPE base; diffusers' get_3d_rotary_pos_embed default, no config field
_FRAME_STEPS = {"CogVideoX 1.0": 8, "CogVideoX 1.5": 16}  # frames must be step·N + 1


@dataclass(frozen=True)
class RopeModel:
    """What the adapter reads from a CogVideoX transformer config.

    ``base_grid`` is the config's grid in tokens (module docstring); ``split`` the head's ``(t, h, w)``
    channels ``(hd/4, 3hd/8, 3hd/8)``; frames must be ``frame_step·N + 1``.
    """

    name: str  # "CogVideoX 1.0" or "CogVideoX 1.5"
    head_dim: int
    split: Grid
    theta: float
    patch_size: int
    patch_size_t: int | None
    temporal_compression: int
    base_grid: Grid
    frame_step: int
    sample_frames: int
    sample_hw: tuple[int, int]  # latent (H, W) the pipeline defaults to

    def token_grid(self, shape: torch.Size | tuple[int, ...]) -> Grid:
        """Token grid ``(T, H, W)`` of latents ``hidden_states`` of shape ``(B, F, C, H, W)``.

        ``T = F / patch_size_t`` (CogVideoX 1.5; its pipelines pad F to a multiple first) or ``F``;
        ``H, W`` divided by ``patch_size``. ValueError, naming the fix, for shapes the model cannot patchify.
        """
        if len(shape) != 5:
            raise ValueError(f"hidden_states must be latents (B, F, C, H, W), got shape {tuple(shape)}")
        _, f, _, h, w = (int(n) for n in shape)
        p, pt = self.patch_size, self.patch_size_t
        for name, n in (("height H", h), ("width W", w)):
            if n % p:
                raise ValueError(
                    f"hidden_states (B, F, C, H, W) = {tuple(shape)}: latent {name}={n} is not a multiple of "
                    f"patch_size={p}; use pixel sizes that are multiples of 8·{p} = {8 * p}"
                )
        if pt is not None and f % pt:
            raise ValueError(
                f"hidden_states (B, F, C, H, W) = {tuple(shape)}: {f} latent frames are not a multiple of "
                f"patch_size_t={pt}; {self.name}'s pipelines pad the latents to a multiple first (CogVideo #647)"
            )
        return (f // pt if pt is not None else f), h // p, w // p

    def video_grid(
        self, num_frames: int, height: int, width: int, *, vae_scale: int = 8, temporal_compression: int | None = None
    ) -> Grid:
        """Token grid of a video of ``num_frames`` × ``height`` × ``width`` pixels, refusing what the model cannot take.

        ``num_frames`` must be ``frame_step·N + 1``, ``height`` and ``width`` multiples of
        ``vae_scale · patch_size``; a ValueError names the argument, its value and valid ones. The VAE's
        ``temporal_compression`` defaults to the config's.
        """
        frames = check_size("num_frames", num_frames, what="frames")
        step = self.frame_step
        if (frames - 1) % step:
            below = frames - 1 - (frames - 1) % step + 1
            raise ValueError(
                f"num_frames={frames} cannot be taken by {self.name}: frames must be {step}N+1 "
                f"(e.g. {below} or {below + step})"
            )
        multiple = vae_scale * self.patch_size
        for name, value in (("height", height), ("width", width)):
            size = check_size(name, value, what="pixels")
            if size % multiple:
                lower = max(multiple, size - size % multiple)
                raise ValueError(
                    f"{name}={size} is not a multiple of {multiple} (VAE scale {vae_scale} × patch_size "
                    f"{self.patch_size}); use e.g. {lower} or {lower + multiple}"
                )
        return latent_grid(
            frames, height, width, patch_size=self.patch_size, patch_size_t=self.patch_size_t,
            vae_scale=vae_scale,
            temporal_compression=self.temporal_compression if temporal_compression is None else temporal_compression,
        )


def _diffusers_class(name: str) -> type | None:
    """diffusers' class ``name`` (imported on first use), or None where diffusers is not installed."""
    try:
        module = importlib.import_module("diffusers.models.transformers.cogvideox_transformer_3d")
    except ImportError:
        return None
    cls = getattr(module, name)
    return cls if isinstance(cls, type) else None


def _supported() -> tuple[type, ...]:
    return tuple(c for c in (_diffusers_class(n) for n in SUPPORTED_TRANSFORMERS) if c is not None)


def find_transformer(target: object) -> tuple[torch.nn.Module, object | None]:
    """``(transformer, pipeline or None)`` of ``target``: a supported transformer, or an object with one as ``.transformer``.

    TypeError naming :data:`SUPPORTED_TRANSFORMERS` for anything else.
    """
    classes = _supported()
    supported = ", ".join(SUPPORTED_TRANSFORMERS)
    if not classes:
        raise TypeError(f"use_strategy adapts diffusers models ({supported}), but diffusers is not installed")
    if isinstance(target, torch.nn.Module) and isinstance(target, classes):
        return target, None
    inner = getattr(target, "transformer", None)
    if isinstance(inner, torch.nn.Module) and isinstance(inner, classes):
        return inner, target
    if isinstance(inner, torch.nn.Module):
        raise TypeError(
            f"target {type(target).__name__} has a transformer of class {type(inner).__name__}, which use_strategy "
            f"does not support yet; supported transformers: {supported}"
        )
    if isinstance(target, torch.nn.Module):
        raise TypeError(
            f"target is a {type(target).__name__}, which use_strategy does not support yet; "
            f"supported transformers: {supported}"
        )
    raise TypeError(
        f"target must be a diffusers pipeline (an object with a .transformer) or the transformer itself, got "
        f"{type(target).__name__}; supported transformers: {supported}"
    )


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


def read_model(transformer: torch.nn.Module) -> RopeModel:
    """The :class:`RopeModel` of a supported transformer; ValueError for one without RoPE (CogVideoX-2B)."""
    config = getattr(transformer, "config")
    if not config["use_rotary_positional_embeddings"]:
        raise ValueError(
            f"this {type(transformer).__name__} has use_rotary_positional_embeddings=False (CogVideoX-2B): its "
            "positions are a sincos table added in the patch embedding, not RoPE tables; use_strategy supports "
            "the RoPE models (CogVideoX 1.0 5B, 5B-I2V, 1.5) so far — the sincos table comes in a later release"
        )
    head_dim = check_size("attention_head_dim", config["attention_head_dim"], what="channels")
    pt = config["patch_size_t"]
    name = "CogVideoX 1.0" if pt is None else "CogVideoX 1.5"
    p = int(config["patch_size"])
    return RopeModel(
        name=name,
        head_dim=head_dim,
        split=default_split(head_dim),
        theta=_THETA,
        patch_size=p,
        patch_size_t=None if pt is None else int(pt),
        temporal_compression=int(config["temporal_compression_ratio"]),
        base_grid=trained_grid(config),
        frame_step=_FRAME_STEPS[name],
        sample_frames=int(config["sample_frames"]),
        sample_hw=(int(config["sample_height"]), int(config["sample_width"])),
    )


def query_modules(transformer: torch.nn.Module) -> list[torch.nn.Module]:
    """The module of each self-attention whose output is q after qk-norm and before RoPE.

    ``attn.norm_q`` (CogVideoX: LayerNorm over a head, applied after ``to_q``); ``attn.to_q`` where an
    attention has no qk-norm. ValueError where neither gives q alone (fused projections, no qk-norm).
    """
    found = []
    for block in getattr(transformer, "transformer_blocks"):
        attn = block.attn1
        if attn.norm_q is not None:
            found.append(attn.norm_q)
        elif getattr(attn, "fused_projections", False):
            raise ValueError(
                "an attention of this transformer has fused q/k/v projections and no qk-norm, so q cannot be "
                "scaled alone; call transformer.unfuse_qkv_projections() first"
            )
        else:
            found.append(attn.to_q)
    return found
