"""Two strategies switched by the diffusion timestep: Lumina-Next's time-aware scaling, for any pair.

Lumina-Next (zhuo2024lumina, section 2.3) rescales RoPE differently along the denoising trajectory.
diffusers' ``LuminaPipeline`` does it per step: with the progress ``τ = 1 − t / num_train_timesteps``
(0 at pure noise, 1 at the clean sample), a step with ``τ < scaling_watershed`` builds its tables with
``linear_factor = s`` (position interpolation), a later one with ``ntk_factor = s``; its default
watershed 1.0 interpolates at every step with ``t > 0``.

:class:`TimestepSchedule` is that rule for any two strategies of the vocabulary:
``use_strategy(pipe, "interpolate", late="ntk", watershed=0.3)`` runs ``"interpolate"`` while
``τ < 0.3`` (``t > 700`` of 1000) and ``"ntk"`` from then on. The timestep is the one the transformer
receives (its ``timestep`` argument); where it holds one per sample or per token (Wan 2.2 TI2V gives
the conditioning frame ``t = 0``) the largest — the noisiest tokens' — decides, since one set of
tables serves the whole call.

**Without a device sync.** :meth:`TimestepSchedule.phase` reads the timestep on the host: for a tensor on
an accelerator that is a device→host copy, and a wait, at every denoising step. :meth:`TimestepSchedule.is_early`
decides on the device instead: the early set ``{t : 1 − t/n < w}`` is ``{t : t ≥ t*}`` (the rule is
monotone in ``t``), so the schedule finds ``t*`` once on the host — the smallest value of each dtype the
timestep may come in whose progress, computed as :meth:`~TimestepSchedule.phase` computes it, is below
the watershed — and a call compares the timestep's largest entry with it, a 0-d bool tensor on the
timestep's device. :meth:`TimestepSchedule.select` picks the early or late tables with ``torch.where``
(exact: every entry is one table's). Both agree with :meth:`~TimestepSchedule.phase` for every timestep,
NaN included (late), and trace into one graph under ``torch.compile`` for both phases.
:func:`cogpe.adapters.use_strategy` uses them for RoPE models: its hook keeps the timestep tensor, and the
tables (and YaRN's factor on q, where the phases differ) are picked where the forward fetches them. Only
CogVideoX-2B, whose patch embedding's sincos table follows the phase, reads the timestep on the host.
"""

from __future__ import annotations

import numbers
import struct
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import torch

from ..strategy import Strategy

__all__ = ["PHASES", "TimestepSchedule", "Value", "timestep_value"]

#: What :meth:`TimestepSchedule.select` picks between: a tuple of tables, or one tensor (q times a factor).
Value = TypeVar("Value", torch.Tensor, tuple[torch.Tensor, ...])

#: The two phases of a schedule, in denoising order.
PHASES = ("early", "late")


def timestep_value(timestep: object) -> float:
    """The timestep a call runs at: a number, or the largest entry of a tensor (one per sample or token).

    >>> timestep_value(torch.tensor([999, 999])), timestep_value(500)
    (999.0, 500.0)
    """
    checked = _checked(timestep)
    return float(checked.detach().max()) if isinstance(checked, torch.Tensor) else checked


def _checked(timestep: object) -> torch.Tensor | float:
    """``timestep`` as a real tensor of at least one entry, or a float; the errors :func:`timestep_value` names."""
    if timestep is None:
        raise ValueError(
            "a timestep schedule (use_strategy(..., late=..., watershed=...)) picks the strategy by the timestep "
            "the transformer receives, but this call passed none; pass timestep= or use a single strategy"
        )
    if isinstance(timestep, torch.Tensor):
        if timestep.numel() == 0 or timestep.is_complex() or timestep.dtype == torch.bool:
            raise ValueError(f"timestep must hold real numbers, got a {timestep.dtype} tensor of shape {tuple(timestep.shape)}")
        return timestep
    if isinstance(timestep, bool) or not isinstance(timestep, numbers.Real):
        raise TypeError(f"timestep must be a number or a tensor, got {timestep!r}")
    return float(timestep)


# per floating dtype the thresholds are found in: struct codes of the float and of its bits, the bits of +inf
_FLOATS = (("<f", "<I", 0x7F800000), ("<d", "<Q", 0x7FF0000000000000))


def _float_at(order: int, codes: tuple[str, str, int]) -> float:
    """The float whose bits, read as a sign and a magnitude, are the integer ``order`` (ordered as the floats are)."""
    float_code, bits_code, _ = codes
    sign = 1 << (struct.calcsize(bits_code) * 8 - 1)
    return float(struct.unpack(float_code, struct.pack(bits_code, order if order >= 0 else -order | sign))[0])


def _least(holds: Callable[[int], bool], low: int, high: int) -> int:
    """The smallest integer in ``(low, high]`` where the monotone ``holds`` is true (false at ``low``, true at ``high``)."""
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if holds(middle) else (middle, high)
    return high


@dataclass(frozen=True)
class TimestepSchedule:
    """``early`` while the progress ``τ = 1 − t / num_train_timesteps`` is below ``watershed``, ``late`` from then on.

    ``watershed`` in ``[0, 1]`` is Lumina-Next's ``scaling_watershed`` (module docstring): 0 runs
    ``late`` throughout, 1 ``early`` at every ``t > 0``. ``num_train_timesteps`` is the scheduler's
    (1000 for CogVideoX's, Wan's and HunyuanVideo's).

    >>> schedule = TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3)
    >>> schedule.phase(999), schedule.phase(701), schedule.phase(700), schedule.strategy_at(1).name
    ('early', 'early', 'late', 'ntk')
    """

    early: Strategy
    late: Strategy
    watershed: float
    num_train_timesteps: int = 1000
    # t* of float32, float64 and int64 timesteps (module docstring), found once
    _least: tuple[float, float, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in PHASES:
            if not isinstance(getattr(self, name), Strategy):
                raise TypeError(f"{name} must be a cogpe.strategy.Strategy, got {getattr(self, name)!r}")
        w = self.watershed
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise TypeError(f"watershed must be a number in [0, 1] (Lumina-Next's scaling_watershed), got {w!r}")
        if not 0.0 <= float(w) <= 1.0:
            raise ValueError(
                f"watershed={w!r} is outside [0, 1]: it is the denoising progress 1 − t/{self.num_train_timesteps} "
                f"at which `late` takes over; for a timestep t* pass 1 − t*/{self.num_train_timesteps}"
            )
        object.__setattr__(self, "watershed", float(w))
        n = self.num_train_timesteps
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"num_train_timesteps must be a positive integer, got {n!r}")

        def early_at(value: float) -> bool:  # exactly phase()'s rule on a float
            return 1.0 - value / n < self.watershed

        floats = tuple(_float_at(_least(lambda o: early_at(_float_at(o, c)), -c[2], c[2]), c) for c in _FLOATS)
        whole = _least(lambda k: early_at(float(k)), -(2**63), 2**63 - 1)
        object.__setattr__(self, "_least", (floats[0], floats[1], whole))

    def progress(self, timestep: object) -> float:
        """``τ = 1 − t / num_train_timesteps`` of a call's timestep (:func:`timestep_value`)."""
        return 1.0 - timestep_value(timestep) / self.num_train_timesteps

    def phase(self, timestep: object) -> str:
        """``"early"`` where the progress is below the watershed, else ``"late"``."""
        return "early" if self.progress(timestep) < self.watershed else "late"

    def strategy_at(self, timestep: object) -> Strategy:
        """The strategy a call at ``timestep`` runs."""
        return self.early if self.phase(timestep) == "early" else self.late

    def is_early(self, timestep: object) -> torch.Tensor:
        """Whether ``timestep`` (a number, or a tensor of any shape) is in the early phase: a 0-d bool tensor on
        the timestep's device (CPU for a number), computed there — no device→host copy (module docstring).

        Equal to ``phase(timestep) == "early"`` for every timestep: float16, bfloat16 and other floats
        compared in float32 (exactly), integers in int64.

        >>> schedule = TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3)
        >>> [bool(schedule.is_early(torch.tensor(t))) for t in (701, 700.0, 700.00006)]
        [True, False, True]
        """
        checked = _checked(timestep)
        if not isinstance(checked, torch.Tensor):
            return torch.tensor(self.phase(checked) == "early")
        largest = checked.detach().amax()  # () the noisiest entry, on the timestep's device
        if largest.dtype == torch.float64:
            return largest >= self._least[1]
        if largest.is_floating_point():  # float32, or a narrower float: exact in float32
            return largest.to(torch.float32) >= self._least[0]
        return largest.to(torch.int64) >= self._least[2]

    @staticmethod
    def select(early: torch.Tensor, early_value: Value, late_value: Value) -> Value:
        """``early_value`` where ``early`` (a 0-d bool tensor, :meth:`is_early`) is true, else ``late_value``:
        tensors, or tuples of tensors (tables ``(cos, sin)``), of equal shapes, picked entry by entry with
        ``torch.where`` on the values' device (no sync, no graph break)."""
        if not isinstance(early, torch.Tensor) or early.dtype != torch.bool or early.dim() != 0:
            raise TypeError(f"early must be a 0-d bool tensor (TimestepSchedule.is_early), got {early!r}")
        if isinstance(early_value, torch.Tensor) and isinstance(late_value, torch.Tensor):
            return _where(early, early_value, late_value)
        if not (isinstance(early_value, tuple) and isinstance(late_value, tuple) and len(early_value) == len(late_value)):
            raise TypeError("early_value and late_value must be two tensors or two tuples of tensors of one length, "
                            f"got {type(early_value).__name__} and {type(late_value).__name__}")
        return tuple(_where(early, a, b) for a, b in zip(early_value, late_value))


def _where(early: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a`` if ``early`` else ``b``, ``(...)`` of their shape, on their device."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        raise ValueError(f"the early and late values must be tensors of one shape, got {_shape(a)} and {_shape(b)}")
    if early.device != a.device:
        early = early.to(a.device, non_blocking=True)  # a host-to-device copy: no wait for the device
    return torch.where(early, a, b)


def _shape(value: object) -> object:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
