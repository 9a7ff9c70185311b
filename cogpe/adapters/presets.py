"""Named training sizes: the ``base_grid`` a strategy scales from, for models whose config does not say it.

A CogVideoX 1.0 config holds its training grid (``sample_frames``, ``sample_height``, ``sample_width``);
Wan's, HunyuanVideo's and Mochi's configs hold none: their rotary embeddings take any grid (Wan up to
``rope_max_seq_len`` tokens per axis). Each preset names the videos its model was trained to generate —
every size it lists, in both orientations — and turns each into tokens: latent frames ``(F − 1) // 4 +
1`` (every VAE here but Mochi's compresses time 4×, keeping frame 0; Mochi's 6×), latent pixels ``/ vae_scale``, then the
transformer's patch, so the arithmetic can be checked (sizes are height × width):

=======================  ======  ==============================================  ==========  =======
preset                   frames  sizes (H × W)                                   VAE (s, t)  patch
=======================  ======  ==============================================  ==========  =======
``cogvideox-5b``         49      480 × 720                                       8, 4        1, 2, 2
``cogvideox-5b-i2v``     49      480 × 720                                       8, 4        1, 2, 2
``cogvideox1.5-5b``      81      768 × 1360                                      8, 4        2, 2, 2
``cogvideox1.5-5b-i2v``  81      768 × 1360, 1360 × 768                          8, 4        2, 2, 2
``wan-480p``             81      480 × 832, 832 × 480                            8, 4        1, 2, 2
``wan-720p``             81      720 × 1280, 1280 × 720                          8, 4        1, 2, 2
``wan-14b``              81      720 × 1280, 1280 × 720, 480 × 832, 832 × 480    8, 4        1, 2, 2
``wan2.2-5b-720p``       121     704 × 1280, 1280 × 704                          16, 4       1, 2, 2
``skyreels-v2-540p``     97      544 × 960, 960 × 544                            8, 4        1, 2, 2
``skyreels-v2-720p``     121     720 × 1280, 1280 × 720                          8, 4        1, 2, 2
``hunyuanvideo-540p``    129     544 × 960, 960 × 544, 624 × 832, 832 × 624,     8, 4        1, 2, 2
                                 720 × 720
``hunyuanvideo-720p``    129     720 × 1280, 1280 × 720, 832 × 1104,             8, 4        1, 2, 2
                                 1104 × 832, 960 × 960
``hunyuanvideo``         129     the ten sizes of both                           8, 4        1, 2, 2
``mochi``                163     480 × 848                                       8, 6        1, 2, 2
``ltx-video``            121     512 × 768, 704 × 1216                           32, 8       1, 1, 1
``cosmos-1.0``           121     704 × 1280                                      8, 8        1, 2, 2
``cosmos-2``             93      704 × 1280                                      8, 4        1, 2, 2
=======================  ======  ==============================================  ==========  =======

Sources (facts, not our choices). Wan: the ``SUPPORTED_SIZES`` of its generation scripts
(github.com/Wan-Video/Wan2.1 and Wan2.2, ``wan/configs/__init__.py``), whose strings are *width*·*height*
(``'480*832'`` is 480 wide and 832 high: portrait; the scripts' ``size`` is "(width, height)"): T2V-1.3B
``'480*832', '832*480'``; T2V-14B, I2V-14B, FLF2V-14B and Wan 2.2's A14B models those two and
``'720*1280', '1280*720'``; TI2V-5B ``'704*1280', '1280*704'``; 81 frames at 16 fps for 2.1 and A14B,
121 at 24 fps for TI2V-5B, whose VAE compresses space 16× (the Wan 2.2 report); diffusers'
``WanPipeline`` defaults to 81 × 480 × 832 (H × W). HunyuanVideo: its README's table of supported
height/width/frame settings (github.com/Tencent/HunyuanVideo, ``544px960px129f`` … ``960px960px129f``,
height first; 720p recommended); diffusers' ``HunyuanVideoPipeline`` defaults to 129 × 720 × 1280.
SkyReels-V2: its generation scripts (github.com/SkyworkAI/SkyReels-V2) map ``--resolution 540P`` to
544 × 960 and ``720P`` to 720 × 1280, swapped for a portrait input image, with 97 and 121 frames;
diffusers' ``SkyReelsV2Pipeline`` defaults to 97 × 544 × 960. Wan VACE takes Wan's sizes. Mochi 1
preview: 480p, landscape 848 × 480, 163 frames (5.4 s at 30 fps), through its VAE's 8× space and 6× time
(``(F − 1) // 6 + 1`` latent frames: ``6N + 1`` frames); diffusers' ``MochiPipeline`` defaults to 19 ×
480 × 848.
LTX-Video: its model card (huggingface.co/Lightricks/LTX-Video) and README: 0.9.0 "24 FPS videos at
768x512", the 0.9.5 and later cards "30 FPS videos at 1216×704" (width × height, landscape), sizes
multiples of 32 and frames ``8N + 1``, best below 257 frames; the frame count, 121 (about 5 s), is our
choice, as no card names one; its VAE compresses space 32× and time 8×, its patch is 1; diffusers'
``LTXPipeline`` defaults to 161 × 512 × 704 at 25 fps.
Cosmos: diffusers' pipelines, whose defaults are the models' generation settings — Cosmos 1.0
(``CosmosTextToWorldPipeline``, ``CosmosVideoToWorldPipeline``) 121 frames at 704 × 1280, 30 fps,
through its CV8x8x8 VAE (8× in time and space); Cosmos 2 (``Cosmos2VideoToWorldPipeline``) 93 frames
at 704 × 1280, 16 fps, through Wan 2.1's VAE (4× in time, 8× in space); the transformers' patch is
``(1, 2, 2)``. A Cosmos 1.0 config is told from a later one by its learned table
(``extra_pos_embed_type="learnable"``, diffusers' conversion script).
CogVideoX: the model cards (1.0: 480 × 720 only, 8N+1 frames; 1.5: 768 × 1360; 1.5-I2V:
``Min(W, H) = 768, 768 ≤ Max(W, H) ≤ 1360``, of which the preset keeps the two extremes). The VAE
factors are diffusers' ``vae_scale_factor_spatial`` / ``_temporal`` of each pipeline, the patches the
transformer configs' ``patch_size`` (Wan ``(1, 2, 2)``; HunyuanVideo 2 with ``patch_size_t`` 1).

Our choice: **the base grid of a call is the trained grid that needs the least rescaling**
(:func:`base_grid_for`): among the preset's grids, the one whose per-axis scales ``T/T0, H/H0, W/W0``
— each counted as 1 where the trained grid holds the axis, since a strategy acts only on axes longer
than the base (``cogpe.strategy``: ``s ≤ 1`` is plain extrapolation) — are smallest, largest first;
then the nearest aspect ratio, then the smallest grid. So every trained size, in either orientation, is its own
base and runs unrescaled; a request inside some trained size is not rescaled either; a larger one is
scaled from the trained video it exceeds least, which is the one of its orientation (a portrait video
from a portrait size: per-axis base grids, one fixed grid for every call, cannot be right for a model
trained in both orientations). Why not by token area: RoPE rotates each axis by its own positions, so
what a strategy must bound is each axis's range, which an area does not say. Pass a smaller preset
(``base_grid="wan-480p"``) for a checkpoint trained at the smaller size only (Wan 2.1 I2V-14B-480P,
whose config is the 720P checkpoint's), or one grid ``(T0, H0, W0)`` to scale every call from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from .._checks import check_size
from ..cogvideox import get_preset
from ..grids import latent_grid
from .tables import Grid

__all__ = ["BASE_GRIDS", "GridPreset", "base_grid_for", "bucket_grids", "bucket_sizes", "default_preset", "preset_grids"]


@dataclass(frozen=True)
class GridPreset:
    """The videos a model was trained to generate, and the token grids they give (module docstring).

    ``sizes`` are ``(height, width)`` pairs in pixels, every one at ``frames`` frames.
    """

    family: str  # the RopeModel.family it applies to: "CogVideoX", "Wan", "HunyuanVideo" or "Mochi"
    frames: int
    sizes: tuple[tuple[int, int], ...]
    vae_scale: int = 8
    temporal_compression: int = 4
    patch: Grid = (1, 2, 2)  # (t, h, w) patch of the transformer
    source: str = ""

    @property
    def grids(self) -> tuple[Grid, ...]:
        """Token grids ``(T, H, W)``, one per size: latent frames padded to a multiple of the time patch, patched."""
        pt, ph, _ = self.patch
        return tuple(
            latent_grid(
                self.frames, height, width, patch_size=ph, patch_size_t=None if pt == 1 else pt,
                vae_scale=self.vae_scale, temporal_compression=self.temporal_compression,
            )
            for height, width in self.sizes
        )


def _both(*sizes: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """``(H, W)`` sizes followed by each one's other orientation ``(W, H)`` (squares once)."""
    return tuple(dict.fromkeys([*sizes, *((w, h) for h, w in sizes)]))


def _cogvideox(name: str, source: str, *, portrait: bool = False) -> GridPreset:
    config = get_preset(name)
    pt = config.patch_size_t or 1
    sizes = _both((config.height, config.width)) if portrait else ((config.height, config.width),)
    return GridPreset("CogVideoX", config.num_frames, sizes, config.vae_scale, config.temporal_compression,
                      (pt, config.patch_size, config.patch_size), source)


_WAN_480P, _WAN_720P = _both((480, 832)), _both((720, 1280))
_HUNYUAN_540P = _both((544, 960), (624, 832), (720, 720))
_HUNYUAN_720P = _both((720, 1280), (832, 1104), (960, 960))

#: Every preset by name (module docstring); ``use_strategy(..., base_grid=name)`` takes them.
BASE_GRIDS: Mapping[str, GridPreset] = MappingProxyType(
    {
        "cogvideox-5b": _cogvideox("cogvideox-5b", "CogVideoX 1.0 5B: its config's sample grid"),
        "cogvideox-5b-i2v": _cogvideox("cogvideox-5b-i2v", "CogVideoX 1.0 5B-I2V: as 5B"),
        "cogvideox1.5-5b": _cogvideox("cogvideox1.5-5b", "CogVideoX 1.5 5B: 768×1360 (model card)"),
        "cogvideox1.5-5b-i2v": _cogvideox(
            "cogvideox1.5-5b", "CogVideoX 1.5 5B-I2V: min side 768, max side up to 1360 (model card)", portrait=True
        ),
        "wan-480p": GridPreset("Wan", 81, _WAN_480P, source="Wan 2.1 T2V-1.3B; the 480P checkpoints"),
        "wan-720p": GridPreset("Wan", 81, _WAN_720P, source="Wan 2.1 and 2.2 14B models at 720p"),
        "wan-14b": GridPreset("Wan", 81, _WAN_720P + _WAN_480P,
                              source="Wan 2.1 T2V-14B, I2V-14B, FLF2V-14B; Wan 2.2 T2V-A14B, I2V-A14B"),
        "wan2.2-5b-720p": GridPreset("Wan", 121, _both((704, 1280)), vae_scale=16,
                                     source="Wan 2.2 TI2V-5B (VAE 16×16×4)"),
        "skyreels-v2-540p": GridPreset("Wan", 97, _both((544, 960)), source="SkyReels-V2 540P: 97 frames"),
        "skyreels-v2-720p": GridPreset("Wan", 121, _both((720, 1280)), source="SkyReels-V2 720P: 121 frames"),
        "hunyuanvideo-540p": GridPreset("HunyuanVideo", 129, _HUNYUAN_540P, source="HunyuanVideo README: 540p"),
        "hunyuanvideo-720p": GridPreset("HunyuanVideo", 129, _HUNYUAN_720P, source="HunyuanVideo README: 720p"),
        "hunyuanvideo": GridPreset("HunyuanVideo", 129, _HUNYUAN_720P + _HUNYUAN_540P,
                                   source="HunyuanVideo README: 540p and 720p"),
        "mochi": GridPreset("Mochi", 163, ((480, 848),), temporal_compression=6,
                            source="Mochi 1 preview: 480p, 163 frames (VAE 8×8×6)"),
        "ltx-video": GridPreset("LTX-Video", 121, ((512, 768), (704, 1216)), vae_scale=32, temporal_compression=8,
                                patch=(1, 1, 1), source="LTX-Video 0.9.0 (768×512) and 0.9.5+ (1216×704) model cards"),
        "cosmos-1.0": GridPreset("Cosmos", 121, ((704, 1280),), temporal_compression=8,
                                 source="Cosmos 1.0 Text2World / Video2World: diffusers' pipeline defaults"),
        "cosmos-2": GridPreset("Cosmos", 93, ((704, 1280),),
                               source="Cosmos 2 Video2World: diffusers' pipeline defaults (Wan 2.1's VAE)"),
    }
)


def preset_grids(name: str, family: str) -> tuple[Grid, ...]:
    """The token grids of preset ``name`` for a model of ``family``; ValueError naming that family's presets."""
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
    return preset.grids


def bucket_sizes(target_size: int, step: int = 16, max_ratio: float = 4.0) -> tuple[tuple[int, int], ...]:
    """The ``(height, width)`` buckets HunyuanVideo 1.5 is trained and sampled at for ``target_size``.

    Its rule (the pipeline's ``generate_crop_size_list``, from the official code): ``n = round((target /
    step)²)`` cells of ``step`` pixels; walking from ``n × 1`` cells wide, either one row is added while
    the rectangle still holds at most ``n`` cells or one column is taken away; every rectangle on the
    way whose sides differ at most ``max_ratio``-fold is a bucket, ``width × height`` = ``(cols, rows) ·
    step``. Both orientations of each shape occur.

    >>> bucket_sizes(48)            # 9 cells of 16 px: 4 × 1, 4 × 2, 3 × 2, 3 × 3, 2 × 3, 2 × 4, 1 × 4
    ((16, 64), (32, 64), (32, 48), (48, 48), (48, 32), (64, 32), (64, 16))
    """
    target_size, step = check_size("target_size", target_size), check_size("step", step)
    cells = round((target_size / step) ** 2)
    cols, rows, found = cells, 1, []
    while cols > 0:
        if max(cols, rows) <= max_ratio * min(cols, rows):
            found.append((rows * step, cols * step))
        if (rows + 1) * cols <= cells:
            rows += 1
        else:
            cols -= 1
    return tuple(found)


def bucket_grids(target_size: int, frames: int = 121, *, patch: Grid = (1, 1, 1), vae_scale: int = 16) -> tuple[Grid, ...]:
    """HunyuanVideo 1.5's trained token grids: :func:`bucket_sizes` at ``frames`` (121, its pipeline's
    default) through its 16× VAE (4× in time) and ``patch``."""
    pt, ph, _ = patch
    return tuple(
        latent_grid(frames, h, w, patch_size=ph, patch_size_t=None if pt == 1 else pt, vae_scale=vae_scale)
        for h, w in bucket_sizes(target_size, vae_scale)
    )


def base_grid_for(grid: Sequence[int], trained: Sequence[Grid]) -> Grid:
    """The grid of ``trained`` that token ``grid`` is scaled from: the one needing the least rescaling.

    Ordered by the per-axis scales ``n / n0``, each at least 1 (an axis the trained grid holds is not
    rescaled), largest first — the largest scale, then the next, then the last — then by the distance of
    the aspect ratios ``|ln(H/W) − ln(H0/W0)|``, then by size ``T0·H0·W0``, then as listed (module
    docstring says why).

    >>> wan = BASE_GRIDS["wan-14b"].grids
    >>> base_grid_for((21, 52, 30), wan), base_grid_for((21, 30, 52), wan)   # 480p: each orientation itself
    ((21, 52, 30), (21, 30, 52))
    >>> base_grid_for((21, 90, 160), wan), base_grid_for((21, 160, 90), wan)  # 1440p: from 720p, oriented
    ((21, 45, 80), (21, 80, 45))
    """
    if not trained:
        raise ValueError("no trained grids to choose a base grid from")
    _, h, w = grid

    def order(base: Grid) -> tuple[tuple[float, ...], float, int]:
        rescale = tuple(sorted((max(1.0, n / n0) for n, n0 in zip(grid, base)), reverse=True))
        aspect = abs(math.log(h / w) - math.log(base[1] / base[2]))
        return rescale, aspect, base[0] * base[1] * base[2]

    return min(trained, key=order)  # min keeps the first of equal keys


def default_preset(family: str, config: Mapping[str, Any]) -> str:
    """The preset a Wan or HunyuanVideo transformer scales from by default: every size its model was trained at.

    Wan 2.2 TI2V-5B is told from the other Wan models by its 48 latent channels (the 16× VAE's
    ``z_dim``), Wan 2.1 T2V-1.3B by its width ``num_attention_heads × attention_head_dim = 1536``
    (12 × 128; the 14B models' is 5120). The 480P and 720P checkpoints of a 14B model share their
    config, so both default to ``"wan-14b"`` — pass ``base_grid="wan-480p"`` for a 480P one.

    >>> default_preset("Wan", {"in_channels": 48}), default_preset("HunyuanVideo", {})
    ('wan2.2-5b-720p', 'hunyuanvideo')
    >>> default_preset("Wan", {"in_channels": 16, "num_attention_heads": 12, "attention_head_dim": 128})
    'wan-480p'

    SkyReels-V2 (``family="SkyReels-V2"``): its 1.3B (1536 wide) was released at 540P only, its 14B at
    540P and 720P under one config — ``"skyreels-v2-720p"``; pass ``"skyreels-v2-540p"`` for a 540P one.
    """
    if family == "Wan":
        if config.get("in_channels") == 48:
            return "wan2.2-5b-720p"
        width = int(config.get("num_attention_heads", 0)) * int(config.get("attention_head_dim", 0))
        return "wan-480p" if width == 1536 else "wan-14b"
    if family == "SkyReels-V2":  # 1.3B: 540P only; 14B: 540P and 720P checkpoints, the larger by default
        width = int(config.get("num_attention_heads", 0)) * int(config.get("attention_head_dim", 0))
        return "skyreels-v2-540p" if width == 1536 else "skyreels-v2-720p"
    if family == "HunyuanVideo":
        return "hunyuanvideo"
    if family == "Mochi":
        return "mochi"
    raise ValueError(f"no default preset for {family}: its base grid is read from its config")
