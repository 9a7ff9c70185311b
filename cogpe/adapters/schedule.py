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
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch

from ..strategy import Strategy

__all__ = ["PHASES", "TimestepSchedule", "timestep_value"]

#: The two phases of a schedule, in denoising order.
PHASES = ("early", "late")


def timestep_value(timestep: object) -> float:
    """The timestep a call runs at: a number, or the largest entry of a tensor (one per sample or token).

    >>> timestep_value(torch.tensor([999, 999])), timestep_value(500)
    (999.0, 500.0)
    """
    if timestep is None:
        raise ValueError(
            "a timestep schedule (use_strategy(..., late=..., watershed=...)) picks the strategy by the timestep "
            "the transformer receives, but this call passed none; pass timestep= or use a single strategy"
        )
    if isinstance(timestep, torch.Tensor):
        if timestep.numel() == 0 or timestep.is_complex() or timestep.dtype == torch.bool:
            raise ValueError(f"timestep must hold real numbers, got a {timestep.dtype} tensor of shape {tuple(timestep.shape)}")
        return float(timestep.detach().max())
    if isinstance(timestep, bool) or not isinstance(timestep, numbers.Real):
        raise TypeError(f"timestep must be a number or a tensor, got {timestep!r}")
    return float(timestep)


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

    def progress(self, timestep: object) -> float:
        """``τ = 1 − t / num_train_timesteps`` of a call's timestep (:func:`timestep_value`)."""
        return 1.0 - timestep_value(timestep) / self.num_train_timesteps

    def phase(self, timestep: object) -> str:
        """``"early"`` where the progress is below the watershed, else ``"late"``."""
        return "early" if self.progress(timestep) < self.watershed else "late"

    def strategy_at(self, timestep: object) -> Strategy:
        """The strategy a call at ``timestep`` runs."""
        return self.early if self.phase(timestep) == "early" else self.late
