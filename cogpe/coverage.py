"""Which angles a model has seen: per-channel coverage of a position range (chapter 4).

A rotating pair ``j`` with frequency ``θ_j`` turns by ``p·θ_j`` at position ``p`` (and by ``Δ·θ_j`` between
two tokens ``Δ`` apart). Trained on positions ``0 … n0-1``, it has seen the arc ``[0, (n0-1)·θ_j]``:

- if that arc reaches ``2π`` the pair is **complete** — it has seen every phase, and new positions
  give angles it has met before (in new combinations with the other pairs);
- otherwise the pair has only seen part of the circle, and positions (or offsets) beyond ``n0 - 1``
  show it angles it has **never seen**: those are the channels extrapolation puts out of distribution,
  and the ones position interpolation, NTK, YaRN and RIFLEx treat specially (chapter 6).

Wavelength ``λ_j = 2π/θ_j`` tokens (chapter 4, section 4.3); turns in the window ``r_j = n0/λ_j``, the ratio
YaRN's ramp is measured in (chapter 6, section 6.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from ._checks import check_positions, check_size

__all__ = ["Coverage", "angle_coverage", "turns", "wavelengths"]


def wavelengths(freqs: torch.Tensor) -> torch.Tensor:
    """Wavelength ``2π/θ_j`` in tokens of each frequency: ``(P,) -> (P,)``.

    >>> from cogpe import rope_frequencies
    >>> wavelengths(rope_frequencies(16))[:2]     # CogVideoX-5B temporal axis
    tensor([ 6.2832, 19.8692], dtype=torch.float64)
    """
    return 2 * math.pi / _check_freqs(freqs)


def turns(freqs: torch.Tensor, n: int) -> torch.Tensor:
    """Turns ``r_j = n/λ_j`` each pair makes over a window of ``n`` tokens: ``(P,) -> (P,)``."""
    n = check_size("n", n)
    return n / wavelengths(freqs)


def _check_freqs(freqs: object) -> torch.Tensor:
    checked = check_positions("freqs", freqs)
    if (checked <= 0).any():
        raise ValueError(f"freqs must be > 0, got {checked.tolist()}")
    return checked.to(torch.float64)


@dataclass(frozen=True)
class Coverage:
    """Per-pair angles seen in training and needed at a new size; every field has shape ``(P,)``.

    ``trained_max`` is the largest angle (or angle between two tokens) met in training,
    ``new_max`` the largest one needed now, both in radians.
    """

    wavelengths: torch.Tensor
    trained_max: torch.Tensor
    new_max: torch.Tensor

    @property
    def complete(self) -> torch.Tensor:
        """Pairs whose trained arc covers the whole circle (``trained_max ≥ 2π``): bool ``(P,)``."""
        return self.trained_max >= 2 * math.pi

    @property
    def unseen(self) -> torch.Tensor:
        """Pairs that now need angles beyond their (incomplete) trained arc: bool ``(P,)``."""
        return ~self.complete & (self.new_max > self.trained_max * (1 + 1e-12))


def angle_coverage(
    freqs: torch.Tensor,
    trained_positions: torch.Tensor | Sequence[float],
    new_positions: torch.Tensor | Sequence[float],
    new_freqs: torch.Tensor | None = None,
) -> Coverage:
    """Coverage of pairs with frequencies ``freqs (P,)`` trained on ``trained_positions (n0,)``.

    ``new_positions (n,)`` (and ``new_freqs``, if a strategy changed them) are what the model meets at the
    new size. The largest angle of a pair is its frequency times the largest offset between two
    positions, ``(max p - min p)·θ_j``, which for RoPE is what a score sees.

    >>> from cogpe import rope_frequencies, arange_positions, divided_positions
    >>> f = rope_frequencies(24)                                     # CogVideoX-5B h axis
    >>> extrapolate = angle_coverage(f, arange_positions(30), arange_positions(48))
    >>> extrapolate.unseen.nonzero().flatten().tolist()              # 768x1360 with integer positions
    [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    >>> interpolate = angle_coverage(f, arange_positions(30), divided_positions(48, 48 / 30))
    >>> round((interpolate.new_max / interpolate.trained_max).max().item(), 4)   # 47/1.6 = 29.375 > 29
    1.0129
    """
    freqs = _check_freqs(freqs)
    new_freqs = freqs if new_freqs is None else _check_freqs(new_freqs)
    if new_freqs.shape != freqs.shape:
        raise ValueError(f"new_freqs has shape {tuple(new_freqs.shape)}, freqs {tuple(freqs.shape)}: they must match")
    trained = check_positions("trained_positions", trained_positions).to(torch.float64)
    new = check_positions("new_positions", new_positions).to(torch.float64)
    span = lambda p: (p.max() - p.min()).item()  # noqa: E731 - largest offset between two tokens
    return Coverage(
        wavelengths=2 * math.pi / freqs,
        trained_max=span(trained) * freqs,
        new_max=span(new) * new_freqs,
    )
