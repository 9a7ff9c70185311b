"""Which RoPE regime an experiment is in: complete and incomplete pairs per axis, and the intrinsic period.

A rotating pair ``j`` of an axis with ``d`` channels turns by ``θ_j = θ^(-2j/d)`` per token. Trained on
positions ``0 … n0-1`` it is **complete** when its arc ``(n0-1)·θ_j`` reaches ``2π`` (chapter 4,
:mod:`cogpe.coverage`) and **incomplete** otherwise. The first incomplete pair is RIFLEx's **intrinsic
component** (:func:`cogpe.scaling.intrinsic_component`): its period ``2π/θ_k`` is the shortest one longer
than the trained span, and a video extrapolated with integer positions may start to repeat once it is
longer than that period (zhao2025riflex).

Whether an experiment can show what the papers predict depends on these numbers, not on the token count:
RIFLEx leaves the table alone when the probe is no longer than the intrinsic period, and an axis
whose pairs are all incomplete (a 4-token axis of a 24-channel split) has no complete pair for
interpolation to keep. :func:`axis_regime` computes one axis, :func:`grid_regime` the three axes of a
grid, and :func:`regime_table` prints them beside each other — the lab's experiments beside the real
models of :data:`REFERENCE_REGIMES` (chapter 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from ._checks import check_factor, check_grid, check_size
from .rope import rope_frequencies

__all__ = ["AxisRegime", "REFERENCE_REGIMES", "ReferenceRegime", "axis_regime", "grid_regime", "regime_table"]

AXES = ("t", "h", "w")


@dataclass(frozen=True)
class AxisRegime:
    """One RoPE axis of ``dim`` channels (``dim/2`` pairs) trained on ``n0`` positions, probed at ``probe``.

    ``complete`` and ``incomplete`` count pairs; ``intrinsic`` is the 0-based index of the first incomplete
    pair and ``period`` its period ``2π/θ_k`` in tokens (both ``None`` when every pair is complete);
    ``probe`` is the number of tokens of the probe on this axis (``None``: no probe).
    """

    axis: str
    dim: int
    theta: float
    n0: int
    complete: int
    incomplete: int
    intrinsic: int | None
    period: float | None
    probe: int | None = None

    @property
    def probe_turns(self) -> float | None:
        """Turns the intrinsic pair makes across the probe, ``(probe-1) / period`` (``None`` without either).

        Below 1 at the trained length by definition; at 1 or more the pair has completed a turn, so
        integer positions can repeat and RIFLEx changes the table.
        """
        if self.probe is None or self.period is None:
            return None
        return (self.probe - 1) / self.period

    @property
    def beyond_period(self) -> bool:
        """Whether the intrinsic pair completes a turn across the probe (``probe_turns >= 1``)."""
        turns = self.probe_turns
        return turns is not None and turns >= 1


def axis_regime(dim: int, n0: int, theta: float = 10000.0, probe: int | None = None, *, axis: str = "") -> AxisRegime:
    """The regime of one axis of ``dim`` channels trained on ``n0`` positions (module docstring).

    >>> r = axis_regime(16, 13, probe=25, axis="t")          # CogVideoX-5B's time axis, twice the frames
    >>> r.complete, r.incomplete, r.intrinsic, round(r.period, 2), round(r.probe_turns, 2)
    (1, 7, 1, 19.87, 1.21)
    """
    dim = check_size("dim", dim, what="channels")
    if dim % 2:
        raise ValueError(f"dim must be even (pairs of channels), got {dim}")
    n0 = check_size("n0", n0)
    theta = check_factor("theta", theta)
    probe = None if probe is None else check_size("probe", probe)
    periods = 2 * math.pi / rope_frequencies(dim, theta)  # (dim/2,) increasing
    complete = int((periods <= n0 - 1).sum())  # (n0-1)·θ_j ≥ 2π  ⇔  2π/θ_j ≤ n0-1
    intrinsic = complete if complete < dim // 2 else None
    period = None if intrinsic is None else periods[intrinsic].item()
    return AxisRegime(axis, dim, theta, n0, complete, dim // 2 - complete, intrinsic, period, probe)


def grid_regime(
    split: Sequence[int], base_grid: Sequence[int], theta: float = 10000.0, probe_grid: Sequence[int] | None = None
) -> tuple[AxisRegime, AxisRegime, AxisRegime]:
    """The regimes of the t, h, w axes of a ``split`` ``(dt, dh, dw)`` trained on token grid ``base_grid``.

    ``probe_grid`` ``(T, H, W)`` tokens, if given, is the grid each axis is probed at.

    >>> [r.complete for r in grid_regime((16, 24, 24), (13, 30, 45))]   # CogVideoX-5B
    [1, 2, 3]
    """
    split = check_grid("split", split)
    if any(d % 2 for d in split):
        raise ValueError(f"split={split} must hold an even number of channels per axis (pairs)")
    base = check_grid("base_grid", base_grid)
    probe = (None,) * 3 if probe_grid is None else check_grid("probe_grid", probe_grid)
    t, h, w = (axis_regime(d, n, theta, p, axis=a) for d, n, p, a in zip(split, base, probe, AXES))
    return t, h, w


@dataclass(frozen=True)
class ReferenceRegime:
    """A released model's RoPE at its training size: ``split`` ``(dt, dh, dw)`` channels of a head, ``theta``,
    the token grid ``base_grid`` ``(T, H, W)`` it was trained at, and ``source`` (where the numbers come from)."""

    split: tuple[int, int, int]
    theta: float
    base_grid: tuple[int, int, int]
    source: str


#: The real models chapter 7 sets the lab beside, each at the training size its table is read at.
REFERENCE_REGIMES: Mapping[str, ReferenceRegime] = {
    "CogVideoX-5B": ReferenceRegime(
        (16, 24, 24), 10000.0, (13, 30, 45), "head 64; 49 frames 480x720: 13 latent frames, 60x90 latent, patch 2"
    ),
    "CogVideoX1.5-5B": ReferenceRegime(
        (16, 24, 24), 10000.0, (11, 48, 85), "head 64; 81 frames 768x1360: 21 latent frames, patch (2, 2, 2)"
    ),
    "Wan2.1-14B-720p": ReferenceRegime(
        (44, 42, 42), 10000.0, (21, 45, 80), "head 128 split d - 4[d/6], 2[d/6], 2[d/6]; 81 frames 720x1280"
    ),
    "HunyuanVideo": ReferenceRegime(
        (16, 56, 56), 256.0, (33, 45, 80), "rope_axes_dim (16, 56, 56), rope_theta 256; 129 frames 720x1280"
    ),
}


def _cell(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def regime_table(rows: Mapping[str, Sequence[AxisRegime]]) -> str:
    """A text table of ``rows`` (name -> its axes' :class:`AxisRegime`): one line per axis.

    Columns: pairs complete / total, the intrinsic pair k (1-based, as papers count it) and its period in
    tokens, the trained length, the probe length and :attr:`AxisRegime.probe_turns` ("*" where pair k
    completes a turn across the probe).

    >>> print(regime_table({"CogVideoX-5B": grid_regime((16, 24, 24), (13, 30, 45), probe_grid=(25, 30, 45))[:1]}))
    model         axis  dim  theta  complete  k  period  n0  probe  turns of k
    CogVideoX-5B  t      16  10000  1/8       2    19.9  13     25       1.21*
    """
    header = ("model", "axis", "dim", "theta", "complete", "k", "period", "n0", "probe", "turns of k")
    lines = [header]
    for name, axes in rows.items():
        for r in axes:
            ratio = r.probe_turns
            mark = "*" if r.beyond_period else ""
            lines.append((
                name, r.axis, str(r.dim), f"{r.theta:g}", f"{r.complete}/{r.dim // 2}",
                _cell(None if r.intrinsic is None else r.intrinsic + 1), _cell(r.period), str(r.n0),
                _cell(r.probe), "-" if ratio is None else f"{ratio:.2f}{mark}",
            ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, 1, 4}  # names, axes and fractions read left-aligned; numbers right-aligned
    return "\n".join(
        "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()
        for line in lines
    )
