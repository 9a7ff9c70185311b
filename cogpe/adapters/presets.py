"""Named training grids: the ``base_grid`` a strategy scales from, for models whose config does not say it.

A CogVideoX 1.0 config holds its training grid (``sample_frames``, ``sample_height``, ``sample_width``);
Wan's and HunyuanVideo's configs hold none: their rotary embeddings take any grid (Wan up to
``rope_max_seq_len`` tokens per axis). Each preset names a video its model was trained to generate and
turns it into tokens — latent frames ``(F − 1) // 4 + 1`` (every VAE here compresses time 4×, keeping
frame 0), latent pixels ``/ vae_scale``, then the transformer's patch — so the arithmetic can be checked:

=====================  =================  ==========  =======  ============  ========================================
preset                 video (F × H × W)  VAE (s, t)  patch    tokens        model (source)
=====================  =================  ==========  =======  ============  ========================================
``cogvideox-5b``       49 × 480 × 720     8, 4        1, 2, 2  13 × 30 × 45  CogVideoX 1.0 5B (yang2024cogvideox)
``cogvideox-5b-i2v``   49 × 480 × 720     8, 4        1, 2, 2  13 × 30 × 45  CogVideoX 1.0 5B-I2V
``cogvideox1.5-5b``    81 × 768 × 1360    8, 4        2, 2, 2  11 × 48 × 85  CogVideoX 1.5 (model card); 21 → 22 → 11
``wan-480p``           81 × 480 × 832     8, 4        1, 2, 2  21 × 30 × 52  Wan 2.1 T2V-1.3B, I2V-14B-480P
``wan-720p``           81 × 720 × 1280    8, 4        1, 2, 2  21 × 45 × 80  Wan 2.1 T2V-14B, I2V-14B-720P; 2.2 A14B
``wan2.2-5b-720p``     121 × 704 × 1280   16, 4       1, 2, 2  31 × 22 × 40  Wan 2.2 TI2V-5B
``hunyuanvideo-540p``  129 × 544 × 960    8, 4        1, 2, 2  33 × 34 × 60  HunyuanVideo
``hunyuanvideo-720p``  129 × 720 × 1280   8, 4        1, 2, 2  33 × 45 × 80  HunyuanVideo
=====================  =================  ==========  =======  ============  ========================================

Sources (facts, not our choices): Wan's sizes are the ``SUPPORTED_SIZES`` of its generation scripts
(github.com/Wan-Video/Wan2.1 and Wan2.2, ``wan/configs/__init__.py``: 1.3B ``480*832`` only, 14B and
A14B ``480*832`` and ``720*1280``, TI2V-5B ``704*1280``), 81 frames at 16 fps for 2.1 and A14B, 121 at
24 fps for TI2V-5B, whose VAE compresses space 16× (Wan 2.2 report); diffusers' ``WanPipeline`` defaults
to 81 × 480 × 832. HunyuanVideo's are the settings its README lists (github.com/Tencent/HunyuanVideo:
``720px1280px129f`` recommended, ``544px960px129f``); diffusers' ``HunyuanVideoPipeline`` defaults to
129 × 720 × 1280. The VAE factors are diffusers' ``vae_scale_factor_spatial`` / ``_temporal`` of each
pipeline, the patches the transformer configs' ``patch_size`` (Wan ``(1, 2, 2)``; HunyuanVideo 2 with
``patch_size_t`` 1).

Our choice: where a model was trained at several sizes, its *default* preset is the largest
(:func:`default_preset`), so that by default no grid the model was trained on is rescaled — a strategy
acts only on axes longer than the base (``cogpe.strategy``: ``s ≤ 1`` is plain extrapolation). Pass
the smaller preset (``base_grid="wan-480p"``) for a checkpoint trained at the smaller size only.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from ..cogvideox import get_preset
from ..grids import latent_grid
from .tables import Grid

__all__ = ["BASE_GRIDS", "GridPreset", "default_preset", "preset_grid"]


@dataclass(frozen=True)
class GridPreset:
    """A video a model was trained to generate, and the token grid it gives (module docstring)."""

    family: str  # the RopeModel.family it applies to: "CogVideoX", "Wan" or "HunyuanVideo"
    frames: int
    height: int
    width: int
    vae_scale: int = 8
    temporal_compression: int = 4
    patch: Grid = (1, 2, 2)  # (t, h, w) patch of the transformer
    source: str = ""

    @property
    def grid(self) -> Grid:
        """Token grid ``(T, H, W)``: latent frames padded to a multiple of the time patch, then patched."""
        pt, ph, _ = self.patch
        return latent_grid(
            self.frames, self.height, self.width, patch_size=ph, patch_size_t=None if pt == 1 else pt,
            vae_scale=self.vae_scale, temporal_compression=self.temporal_compression,
        )


def _cogvideox(name: str, source: str) -> GridPreset:
    config = get_preset(name)
    pt = config.patch_size_t or 1
    return GridPreset("CogVideoX", config.num_frames, config.height, config.width, config.vae_scale,
                      config.temporal_compression, (pt, config.patch_size, config.patch_size), source)


#: Every preset by name (module docstring); ``use_strategy(..., base_grid=name)`` takes them.
BASE_GRIDS: Mapping[str, GridPreset] = MappingProxyType(
    {
        "cogvideox-5b": _cogvideox("cogvideox-5b", "CogVideoX 1.0 5B: its config's sample grid"),
        "cogvideox-5b-i2v": _cogvideox("cogvideox-5b-i2v", "CogVideoX 1.0 5B-I2V: as 5B"),
        "cogvideox1.5-5b": _cogvideox("cogvideox1.5-5b", "CogVideoX 1.5 5B: 768×1360 (model card, CogVideo #681)"),
        "wan-480p": GridPreset("Wan", 81, 480, 832, source="Wan 2.1 T2V-1.3B and I2V-14B-480P; 14B and A14B at 480p"),
        "wan-720p": GridPreset("Wan", 81, 720, 1280, source="Wan 2.1 T2V-14B, I2V-14B-720P; Wan 2.2 A14B"),
        "wan2.2-5b-720p": GridPreset("Wan", 121, 704, 1280, vae_scale=16, source="Wan 2.2 TI2V-5B (VAE 16×16×4)"),
        "hunyuanvideo-540p": GridPreset("HunyuanVideo", 129, 544, 960, source="HunyuanVideo README: 544px960px129f"),
        "hunyuanvideo-720p": GridPreset("HunyuanVideo", 129, 720, 1280, source="HunyuanVideo README: 720px1280px129f"),
    }
)


def preset_grid(name: str, family: str) -> Grid:
    """The token grid of preset ``name`` for a model of ``family``; ValueError naming that family's presets."""
    valid = ", ".join(repr(k) for k, p in BASE_GRIDS.items() if p.family == family)
    preset = BASE_GRIDS.get(name)
    if preset is None:
        raise ValueError(
            f"base_grid={name!r} is not a preset; {family} presets: {valid}, or pass a grid (T, H, W) in tokens"
        )
    if preset.family != family:
        raise ValueError(
            f"base_grid={name!r} is a {preset.family} preset, but the model is {family}; "
            f"{family} presets: {valid}, or pass a grid (T, H, W) in tokens"
        )
    return preset.grid


def default_preset(family: str, config: Mapping[str, Any]) -> str:
    """The preset a Wan or HunyuanVideo transformer scales from by default: its largest training video.

    Wan 2.2 TI2V-5B is told from the other Wan models by its 48 latent channels (the 16× VAE's ``z_dim``);
    the 1.3B and 480P checkpoints share their configs' layout with 720p ones, so they default to
    ``"wan-720p"`` too — pass ``base_grid="wan-480p"`` for them.

    >>> default_preset("Wan", {"in_channels": 48}), default_preset("HunyuanVideo", {})
    ('wan2.2-5b-720p', 'hunyuanvideo-720p')
    """
    if family == "Wan":
        return "wan2.2-5b-720p" if config.get("in_channels") == 48 else "wan-720p"
    if family == "HunyuanVideo":
        return "hunyuanvideo-720p"
    raise ValueError(f"no default preset for {family}: its base grid is read from its config")
