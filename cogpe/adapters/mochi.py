"""Mochi's rotary embedding under a strategy: its centred, area-normalised positions and its learned frequencies.

Facts from diffusers 0.35–0.42 (``transformer_mochi.py``, ``MochiRoPE``; the same in both):

- **Positions** ``(N, 3)`` float32, one row per token ``t·H·W + h·W + w``: time ``arange(T)``; height
  and width the centres of ``n`` equal cells on ``[−n·σ/2, n·σ/2]`` (``linspace`` of ``n + 1`` edges,
  then the mean of neighbours), with the spacing ``σ = sqrt(A / (H·W))`` and ``A`` the rope module's
  ``target_area`` (``192 × 192``, not in the config). So the area the spatial positions cover is ``A``
  at every size: Mochi rescales its own positions with the grid, by area, not per axis.
- **Frequencies** are learned: the parameter ``pos_frequencies`` ``(3, heads, head_dim/2)``; the
  angle of head ``k``, pair ``j`` is ``t·F[0,k,j] + h·F[1,k,j] + w·F[2,k,j]`` (one einsum, float32),
  so every pair mixes the three axes and the heads differ. The tables are ``(N, heads, head_dim/2)``,
  built in ``forward`` as ``self.rope(self.pos_frequencies, T, H, W)``; the attention rotates the
  pairs ``(x[2j], x[2j+1])`` of the video tokens (the text stream is not rotated).

What a strategy means here (our mapping): a strategy's positions ``g(m)`` on an axis of ``n`` tokens
trained on ``n0`` become Mochi's coordinates at the trained spacing ``σ0 = sqrt(A / (H0·W0))``,
centred as Mochi centres them — ``n`` cells of ``g(1) − g(0)`` trained steps, that is an extent of
``n · (g(1) − g(0)) · σ0``. ``"extrapolate"`` keeps the trained spacing (the extent grows with
``n``); ``"interpolate"`` spreads the ``n`` tokens over the trained extent ``n0·σ0`` (spacing
``σ0/s``); time is ``g(m)`` itself (``m`` or ``m/s``). At the trained grid both are Mochi's own
positions, bit for bit (the same float32 operations). Mochi's own rule at another size — the area kept
— is ``"interpolate"`` where height and width grow by one factor and time not at all (both keep the
trained extent), and neither strategy otherwise: it is what the unadapted model does.

``"scale-shift"`` (ComfyUI's ScaleROPE node, :mod:`cogpe.strategy`: positions ``shift + scale·m`` per
axis, in tokens, at every size) acts on Mochi's coordinates as they are, not on a re-indexed grid —
centring would cancel a shift of ``m``. Time: ``shift_t + scale_t·m``, as on any RoPE model. Height and
width: Mochi's centred cells at the trained spacing, scaled about the centre and moved by ``shift``
trained steps (eq. ``mochi-scale-shift``)::

    h_i = σ0 · (scale_h · (i − (H − 1)/2) + shift_h),   i = 0 … H − 1,   σ0 = sqrt(A / (H0·W0))

(and ``w_j`` alike), so ``scale`` multiplies the extent ``H·σ0`` and the spacing, and ``shift`` moves
the whole axis by ``shift`` tokens of the trained grid. At its defaults (1, 0) it is ``"extrapolate"``:
Mochi's own positions at the trained grid, bit for bit (the same float32 operations; a zero shift is
not added), the trained spacing at any other.

Strategies acting on frequencies ``θ_j`` (NTK, YaRN, RIFLEx) have no meaning for learned frequencies
that mix the axes, and the linspace-crop ones reproduce CogVideoX 1.0's pipeline: both are refused.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .._checks import check_grid
from ..strategy import Strategy
from .tables import Build, Grid, Tables

__all__ = ["MOCHI_STRATEGIES", "MOCHI_TARGET_AREA", "mochi_positions", "mochi_tables", "position_builder"]

#: The strategies Mochi can use: those acting on positions only (module docstring).
MOCHI_STRATEGIES = ("extrapolate", "interpolate", "scale-shift")
#: ``MochiRoPE``'s default ``base_height × base_width``, which ``MochiTransformer3DModel`` keeps.
MOCHI_TARGET_AREA = 192 * 192
# what Strategy.token_axes is given for frequencies where only its positions are read: one pair per axis
_NO_FREQUENCIES = (torch.ones(1, dtype=torch.float64),) * 3


def _centres(extent: float, n: int) -> torch.Tensor:
    """Mochi's ``_centers``: centres ``(n,)`` float32 of ``n`` cells on ``[−extent/2, extent/2]``."""
    edges = torch.linspace(-extent / 2, extent / 2, n + 1, dtype=torch.float32)  # (n + 1,)
    return (edges[:-1] + edges[1:]) / 2


def mochi_positions(
    strategy: Strategy, grid: Sequence[int], base_grid: Sequence[int], target_area: float = MOCHI_TARGET_AREA
) -> torch.Tensor:
    """Mochi's positions ``(T*H*W, 3)`` float32 (rows ``t·H·W + h·W + w``, columns t, h, w) under ``strategy``.

    ``strategy`` is one of :data:`MOCHI_STRATEGIES`, ``grid`` and ``base_grid`` in tokens; the spacing is
    the trained one, ``sqrt(target_area / (H0·W0))`` (module docstring; ``"scale-shift"``: its scale and
    shift per axis, eq. ``mochi-scale-shift``). At ``grid == base_grid`` these are ``MochiRoPE``'s own
    positions (``"scale-shift"`` at its defaults).

    >>> pos = mochi_positions(Strategy("interpolate"), (2, 4, 2), (2, 2, 2), target_area=16)
    >>> pos.shape, pos[:8:2, 1].tolist()       # h: 4 cells over the trained extent 2·σ0 = 4
    (torch.Size([16, 3]), [-1.5, -0.5, 0.5, 1.5])
    >>> shifted = mochi_positions(Strategy("scale-shift", position_scale=(1, 2, 1), position_shift=(0, 1, 0)),
    ...                           (2, 4, 2), (2, 2, 2), target_area=16)
    >>> shifted[:8:2, 1].tolist()              # h: spacing 2·σ0 = 4 about the centre, moved by σ0 = 2
    [-4.0, 0.0, 4.0, 8.0]
    """
    grid, base_grid = check_grid("grid", grid, 3), check_grid("base_grid", base_grid, 3)
    if strategy.name not in MOCHI_STRATEGIES:
        raise ValueError(f"strategy={strategy.name!r} has no meaning for Mochi's learned frequencies; valid: "
                         f"{', '.join(map(repr, MOCHI_STRATEGIES))}")
    # positions only: Strategy.positions is for sincos, which scale-shift is not; the frequencies are dummies
    (t, _), (h, _), (w, _) = strategy.token_axes(grid, base_grid, _NO_FREQUENCIES)  # (T,), (H,), (W,) float64
    spacing = (float(target_area) / (base_grid[1] * base_grid[2])) ** 0.5  # MochiRoPE's scale at the base grid
    axes = [t.to(torch.float32)]
    for axis, g in ((1, h), (2, w)):
        if strategy.name == "scale-shift":  # the user's scale, about Mochi's centre (eq. mochi-scale-shift)
            step = strategy.position_scale[axis]
        else:
            step = (g[1] - g[0]).item() if len(g) > 1 else 1.0  # trained steps per token: 1 or 1/s
        centres = _centres(len(g) * step * spacing, len(g))  # (n,) float32
        shift = strategy.position_shift[axis] if strategy.name == "scale-shift" else 0.0
        axes.append(centres + shift * spacing if shift else centres)  # a zero shift keeps the bits
    mesh = torch.meshgrid(*axes, indexing="ij")  # 3 × (T, H, W)
    return torch.stack(mesh, dim=-1).view(-1, 3)  # (N, 3)


def mochi_tables(positions: torch.Tensor, pos_frequencies: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)``, each ``(N, heads, head_dim/2)`` float32: angles ``positions (N, 3) · pos_frequencies
    (3, heads, head_dim/2)``, as ``MochiRoPE`` computes them (float32, autocast off)."""
    if positions.ndim != 2 or positions.shape[1] != 3 or pos_frequencies.ndim != 3 or pos_frequencies.shape[0] != 3:
        raise ValueError(
            f"positions must be (N, 3) and pos_frequencies (3, heads, head_dim/2), got {tuple(positions.shape)} "
            f"and {tuple(pos_frequencies.shape)}"
        )
    with torch.autocast(pos_frequencies.device.type, enabled=False):
        angles = torch.einsum("nd,dhf->nhf", positions.to(torch.float32), pos_frequencies.to(torch.float32))
    return torch.cos(angles), torch.sin(angles)


def position_builder(target_area: float) -> Build:
    """What a :class:`~cogpe.adapters.tables.TableCache` keeps for Mochi: ``(positions (N, 3),)`` on the device."""

    def build(strategy: Strategy, grid: Grid, base_grid: Grid, device: torch.device) -> Tables:
        return (mochi_positions(strategy, grid, base_grid, target_area).to(device),)

    return build
