"""LTX-Video's rotary embedding under a strategy: fractions of base sizes, frequencies rising from π/2.

Facts from diffusers 0.35–0.42 (``transformer_ltx.py``, ``LTXVideoRotaryPosEmbed``; ``pipeline_ltx.py``):

- **Positions** (float32) of token ``m`` on each axis: ``x = m · r · p / base`` — ``r`` the call's
  ``rope_interpolation_scale`` (``LTXPipeline`` passes ``(8 / frame_rate, 32, 32)``: the VAE's time
  and space compression, time over the frame rate, so time is in seconds), ``p`` the patch,
  ``base`` the rope module's ``base_num_frames``, ``base_height``, ``base_width`` (20, 2048, 2048);
  without a scale ``x = m``. Then ``2x − 1``: the trained positions are fractions mapped onto ``[−1, 1]``.
- **Frequencies** rise: ``F_j = θ^(j/(K−1)) · π/2``, ``j = 0 … K−1``, ``K = dim // 6``, θ 10000, the
  same on every axis; angle ``F_j · (2x − 1)``. ``dim`` is the transformer's width ``heads ×
  head_dim`` (one table for all heads, applied before they split, after ``norm_q``/``norm_k``).
- **Layout** ``(B, N, dim)``: pairs interleaved ``(F_0 t, F_0 h, F_0 w, F_1 t, …)``, each repeated
  twice (``(x[2i], x[2i+1])`` rotate together), after ``dim % 6`` leading channels of cos 1, sin 0.
  Built in ``forward`` as ``self.rope(hidden_states, num_frames, height, width,
  rope_interpolation_scale, video_coords)``, ``hidden_states`` packed ``(B, N, C)`` with ``N = T·H·W``
  (latent frames × latent pixels: every release has patch 1). Frames ``8N+1`` (the VAE compresses
  time 8×, space 32×). ``video_coords`` (``LTXConditionPipeline``) replaces the grid by given coordinates.

What a strategy means here (our mapping): per token, pair ``j`` of an axis turns ``ω_j = 2·c·F_j``
radians, ``c = r·p/base`` (``c = 1`` without a scale): with ``LTXPipeline``'s scale that is ``2·32/2048
· F_j`` per latent pixel, from 0.049 to 491 rad (the high pairs alias: they turn many times per
token), and in time ``2·(8/fps)/20 · F_j`` per latent frame — so the frame rate of the call changes
the per-token frequencies, and the strategy's turns (YaRN's ``n0·ω_j/2π``, RIFLEx's periods
``2π/ω_j`` and pair) are counted at the call's frame rate, over the ``n0`` latent frames of the base
grid. The angle is the model's own form with the strategy's position and frequency, ``(h(ω_j)/2c) ·
(2·c·g(m) − 1)`` (the phase ``−h(ω_j)/2c`` is common to all tokens, so attention does not see it);
an axis whose frequencies are kept is computed as LTX-Video computes it (float32, the same operations),
so every strategy at the base grid, and ``"extrapolate"`` (LTX-Video's own rule) at every grid and
frame rate, gives its tables bit for bit; an axis with new frequencies in float64, rounded once.
**NTK** here is the geometric rule of :func:`cogpe.scaling.ntk_per_token`: the highest frequency
``θ·π/2·2c`` is kept and the lowest divided by ``s``, the ratio between them growing from θ to θ·s —
what NTK's base change does to RoPE's ``θ^(−2j/d)``, whose highest frequency is 1 and lowest
``θ^(−(d−2)/d)``. Our choice, because LTX-Video's frequencies are not ``θ^(−2j/d)`` in any base.
The crop strategies reproduce CogVideoX 1.0's pipeline and are refused; so are ``video_coords``. Under
``torch.compile`` the tables, which follow each call's scale read on the host, are built eagerly
(``torch.compiler.disable``: a graph break; ``fullgraph=True`` fails), and the output is the eager one. ``StrategyHandle.tables(grid)``
gives those of a call without ``rope_interpolation_scale``; a pipeline's are what ``transformer.rope``
returns under the strategy.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch

from .._checks import check_grid
from ..strategy import Axes, Strategy
from .tables import Grid, Tables

__all__ = ["LTX_BASE", "call_scale", "ltx_axes", "ltx_tables", "table_builder", "token_frequencies"]

#: ``LTXVideoRotaryPosEmbed``'s ``base_num_frames``, ``base_height``, ``base_width`` as the transformer builds it.
LTX_BASE = (20.0, 2048.0, 2048.0)


def call_scale(value: object) -> tuple[float, float, float] | None:
    """The ``rope_interpolation_scale`` of a call as three floats (None for None); ValueError otherwise.

    Each entry a number or a one-valued tensor (the pipelines pass a float over the frame rate and two ints)."""
    if value is None:
        return None
    items = list(value) if isinstance(value, (tuple, list)) else None
    out = []
    for item in items or []:
        if isinstance(item, torch.Tensor) and item.numel() >= 1 and bool((item == item.flatten()[0]).all()):
            item = item.flatten()[0].item()
        if isinstance(item, numbers.Real) and not isinstance(item, bool) and math.isfinite(float(item)) and float(item) > 0:
            out.append(float(item))
    if items is None or len(items) != 3 or len(out) != 3:
        raise ValueError(f"rope_interpolation_scale must be three positive numbers (time, height, width; one value "
                         f"per entry for the whole batch), got {value!r}")
    return out[0], out[1], out[2]


def _units(scale: tuple[float, float, float] | None, patch: Sequence[int], base: Sequence[float]) -> tuple[float, float, float]:
    """``c = r·p/base`` per axis: model position per token (1 without a scale)."""
    if scale is None:
        return 1.0, 1.0, 1.0
    t, h, w = (r * p / b for r, p, b in zip(scale, patch, base))
    return t, h, w


def model_frequencies(pairs: int, theta: float = 10000.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``F_j = θ^(j/(K−1)) · π/2`` ``(K,)``, as ``LTXVideoRotaryPosEmbed`` computes it (in ``dtype``)."""
    exponents = torch.linspace(math.log(1.0, theta), math.log(theta, theta), pairs, dtype=dtype)
    return theta ** exponents * math.pi / 2.0


def token_frequencies(pairs: int, scale: tuple[float, float, float] | None, patch: Sequence[int], base: Sequence[float] = LTX_BASE,
                      theta: float = 10000.0) -> tuple[torch.Tensor, ...]:
    """Per-axis radians per token ``ω_j = 2·c·F_j`` ``(K,)`` float64 (module docstring)."""
    f = model_frequencies(pairs, theta)
    return tuple(2 * c * f for c in _units(scale, patch, base))


def ltx_axes(strategy: Strategy, grid: Sequence[int], base_grid: Sequence[int], pairs: int, scale: tuple[float, float, float] | None,
             patch: Sequence[int], base: Sequence[float] = LTX_BASE, theta: float = 10000.0) -> Axes:
    """Per-axis ``(positions (n,) in tokens, radians per token (K,))`` float64 under ``strategy``."""
    return strategy.token_axes(grid, base_grid, token_frequencies(pairs, scale, patch, base, theta))


def ltx_tables(strategy: Strategy, grid: Sequence[int], base_grid: Sequence[int], dim: int, scale: tuple[float, float, float] | None,
               patch: Sequence[int] = (1, 1, 1), base: Sequence[float] = LTX_BASE, theta: float = 10000.0, *,
               device: torch.device | str | None = None) -> Tables:
    """``(cos, sin)``, each ``(T*H*W, dim)`` float32 in LTX-Video's layout (module docstring), no batch axis.

    ``scale`` is the call's ``rope_interpolation_scale`` (:func:`call_scale`), ``patch`` ``(pt, p, p)``.

    >>> cos, sin = ltx_tables(Strategy("ntk"), (3, 4, 4), (3, 2, 2), 20, (8 / 25, 32, 32))
    >>> cos.shape, cos[:, :2].tolist()[0], cos[0, 2].item() == cos[0, 3].item()   # 2 padding channels, pairs
    (torch.Size([48, 20]), [1.0, 1.0], True)
    """
    grid = check_grid("grid", grid, 3)
    pairs, pad = dim // 6, dim % 6
    units = _units(scale, patch, base)
    f32 = model_frequencies(pairs, theta, torch.float32)
    per_axis = []
    for a, ((g, f), kept) in enumerate(zip(ltx_axes(strategy, grid, base_grid, pairs, scale, patch, base, theta),
                                           token_frequencies(pairs, scale, patch, base, theta))):
        if torch.equal(f, kept):  # LTX-Video's own float32 operations
            x = g.to(torch.float32)
            if scale is not None:
                x = x * scale[a] * patch[a] / base[a]
            angles = f32 * (x[:, None] * 2 - 1)  # (n, K)
        else:
            c = units[a]
            angles = (f / (2 * c)) * (2 * c * g[:, None] - 1)  # (n, K) float64
        per_axis.append((angles.cos().float(), angles.sin().float()))
    t, h, w = grid
    index = torch.arange(t * h * w)
    rows = (index // (h * w), index // w % h, index % w)  # token t·H·W + h·W + w -> its row per axis
    tables = []
    for i, fill in ((0, 1.0), (1, 0.0)):
        pairs_by_axis = torch.stack([per_axis[a][i][rows[a]] for a in range(3)], dim=-1)  # (N, K, 3)
        table = pairs_by_axis.flatten(1).repeat_interleave(2, dim=-1)  # (N, 6K): (F0 t, F0 t, F0 h, F0 h, …)
        padding = torch.full((table.shape[0], pad), fill, dtype=torch.float32)  # (N, dim % 6)
        tables.append(torch.cat([padding, table], dim=-1).to(device))
    return tables[0], tables[1]


def table_builder(dim: int, patch: Sequence[int], base: Sequence[float], theta: float = 10000.0) -> Any:
    """What a :class:`~cogpe.adapters.tables.TableCache` keeps for LTX-Video, per call scale: its ``units``, the
    call's ``rope_interpolation_scale`` (:func:`call_scale`), ``()`` for a call without one."""

    def build(strategy: Strategy, grid: Grid, base_grid: Grid, device: torch.device, units: Sequence[float] = ()) -> Tables:
        scale = (units[0], units[1], units[2]) if units else None
        return ltx_tables(strategy, grid, base_grid, dim, scale, patch, base, theta, device=device)

    return build
