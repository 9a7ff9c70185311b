"""Validation at the public boundary: every check names the argument, the value and what is valid.

Functions here raise ``TypeError`` for a wrong kind of value and ``ValueError`` for a value of the
right kind outside what the caller may pass. They return the cleaned value, so call sites read
``n = check_size("grid", n)``.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence

import torch
from torch.types import Device

__all__ = [
    "check_alpha_beta",
    "check_even_dim",
    "check_margin",
    "check_pair_index",
    "check_turns",
    "LAYOUTS",
    "POSITION_DTYPES",
    "check_choice",
    "check_dim",
    "check_factor",
    "check_flag",
    "check_grid",
    "check_positions",
    "check_factors",
    "check_size",
    "check_split",
]


#: RoPE's two channel layouts: pairs ``(2j, 2j+1)`` or ``(j, j + d/2)`` (chapter 3, section 3.5).
LAYOUTS = ("interleaved", "half")


def check_size(name: str, value: object, *, minimum: int = 1, what: str = "number of tokens") -> int:
    """Return ``value`` as an ``int`` ≥ ``minimum``; reject floats, bools and tensors with a clear error.

    ``what`` names the quantity in the message (tokens by default; steps, videos, …)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        size = int(value)
    elif isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
        size = int(value)
    else:
        raise TypeError(f"{name} must be an integer ({what}), got {value!r} ({type(value).__name__})")
    if size < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {size}")
    return size


def check_seeds(name: str, seeds: object) -> tuple[int, ...]:
    """``seeds`` as a non-empty tuple of distinct integers ≥ 0 (random seeds of runs that are compared)."""
    if not isinstance(seeds, Iterable) or isinstance(seeds, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of integers >= 0, got {seeds!r}")
    items = tuple(seeds)
    out = tuple(int(s) for s in items if isinstance(s, numbers.Integral) and not isinstance(s, bool))
    if not out or len(out) != len(items) or min(out) < 0:
        raise ValueError(f"{name} must be a non-empty list of integers >= 0, got {seeds!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has duplicates: {out}")
    return out


def check_probability(name: str, value: object) -> float:
    """``value`` as a float strictly between 0 and 1 (a confidence level, a significance level)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), e.g. 0.95 or 0.05, got {value!r}")
    return float(value)


def check_flag(name: str, value: object) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not merely truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return value


def check_factor(name: str, value: object) -> float:
    """Return ``value`` as a finite ``float`` > 0 (an interpolation factor, a θ base, a scale)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, torch.Tensor)):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        factor = float(value.item())
    else:
        factor = float(value)
    if not math.isfinite(factor) or factor <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {factor}")
    return factor


def _as_tuple(name: str, value: object, n: int, what: str) -> tuple[object, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, torch.Size)):
        raise TypeError(f"{name} must be a tuple of {n} {what} ordered {_ORDER[n]}, got {value!r}")
    items = tuple(value)
    if len(items) != n:
        raise ValueError(
            f"{name} must have {n} entries ordered {_ORDER[n]}, got {len(items)}: {items!r}"
        )
    return items


_ORDER = {1: "(N,)", 2: "(H, W)", 3: "(T, H, W)"}


def check_grid(name: str, grid: object, n: int = 3) -> tuple[int, ...]:
    """Return ``grid`` as a tuple of ``n`` positive ints, ordered (T, H, W) or (H, W)."""
    items = _as_tuple(name, grid, n, "positive integers")
    labels = "THW"[3 - n:]
    return tuple(check_size(f"{name}[{i}] ({labels[i]})", g) for i, g in enumerate(items))


def check_factors(name: str, factors: object, n: int = 3) -> tuple[float, ...]:
    """Return ``factors`` as ``n`` finite floats > 0; a single number is used for every axis."""
    if isinstance(factors, (numbers.Real, torch.Tensor)) and not isinstance(factors, bool):
        factors = (factors,) * n
    items = _as_tuple(name, factors, n, "positive numbers")
    labels = "THW"[3 - n:]
    return tuple(check_factor(f"{name}[{i}] ({labels[i]})", f) for i, f in enumerate(items))


def check_offsets(name: str, offsets: object, n: int = 3) -> tuple[float, ...]:
    """Return ``offsets`` as ``n`` finite floats of any sign; a single number is used for every axis."""
    if isinstance(offsets, (numbers.Real, torch.Tensor)) and not isinstance(offsets, bool):
        offsets = (offsets,) * n
    items = _as_tuple(name, offsets, n, "finite numbers")
    labels = "THW"[3 - n:]
    out = []
    for i, v in enumerate(items):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise ValueError(f"{name}[{i}] ({labels[i]}) must be a finite number, got {v!r}")
        out.append(float(v))
    return tuple(out)


def check_dim(name: str, dim: object, *, multiple: int, why: str) -> int:
    """Return ``dim`` as an int that is a positive multiple of ``multiple`` (``why`` says the reason)."""
    size = check_size(name, dim)
    if size % multiple:
        lower = max(multiple, size - size % multiple)
        raise ValueError(
            f"{name}={size} {why}; use a multiple of {multiple} (e.g. {lower} or {lower + multiple})"
        )
    return size


def check_split(name: str, split: object, total: int, total_name: str) -> tuple[int, int, int]:
    """Return a (t, h, w) channel split of ``total`` with even, positive parts."""
    t, h, w = (check_size(f"{name}[{i}] ({'thw'[i]})", s)
               for i, s in enumerate(_as_tuple(name, split, 3, "channel counts")))
    parts = (t, h, w)
    if sum(parts) != total:
        raise ValueError(
            f"{name}={parts} sums to {sum(parts)}, but it must sum to {total_name}={total}"
        )
    odd = [f"{'thw'[i]}={s}" for i, s in enumerate(parts) if s % 2]
    if odd:
        raise ValueError(
            f"{name}={parts} has odd parts ({', '.join(odd)}); every axis needs an even number of "
            "channels because channels rotate in pairs"
        )
    return parts


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise list the valid names."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {', '.join(map(repr, choices))}; got {value!r}")
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(repr, choices))}")
    return value


POSITION_DTYPES = (torch.float64, torch.float32)


def check_positions(name: str, positions: object, device: Device = None) -> torch.Tensor:
    """A 1-D floating tensor of positions (float64 unless float32 is given)."""
    if not isinstance(positions, torch.Tensor):
        try:
            positions = torch.as_tensor(positions, dtype=torch.float64, device=device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a 1-D sequence of numbers, got {positions!r}") from err
    if positions.ndim != 1 or positions.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(positions.shape)}")
    if positions.dtype not in POSITION_DTYPES:
        if positions.is_floating_point():
            raise TypeError(
                f"{name} has dtype {positions.dtype}; positions must be float32 or float64 "
                "(low precision would round large positions)"
            )
        positions = positions.to(torch.float64)
    if positions.device.type != "meta" and not torch.isfinite(positions).all():
        raise ValueError(f"{name} must be finite, got {positions.tolist()}")
    return positions


# --- arguments of the scaling formulas (chapter 6) ----------------------------------------------------


def check_even_dim(name: str, dim: object) -> int:
    """The channels of one axis: a positive even int (channels rotate in pairs)."""
    size = check_size(name, dim, what="channels")
    if size % 2:
        raise ValueError(f"{name}={size} must be even: channels rotate in pairs")
    return size


def check_turns(name: str, value: object) -> float:
    """A finite number of turns >= 0 (YaRN's α and β)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number of turns, got {value!r} ({type(value).__name__})")
    turns = float(value)
    if not math.isfinite(turns) or turns < 0:
        raise ValueError(f"{name} must be a finite number of turns >= 0, got {turns}")
    return turns


def check_alpha_beta(alpha: object, beta: object) -> tuple[float, float]:
    """YaRN's ramp bounds ``0 <= α < β`` (turns in the training window)."""
    a, b = check_turns("yarn_alpha", alpha), check_turns("yarn_beta", beta)
    if b <= a:
        raise ValueError(f"yarn_beta={b} must be greater than yarn_alpha={a} (the ramp runs from α to β turns)")
    return a, b


def check_margin(value: object) -> float:
    """RIFLEx's margin in ``(0, 1]``."""
    margin = check_factor("riflex_margin", value)
    if margin > 1:
        raise ValueError(
            f"riflex_margin={margin} must be in (0, 1]: above 1 the new period s·n0/margin is shorter "
            "than the new length and the intrinsic component repeats again (RIFLEx Eq. 8)"
        )
    return margin


def check_pair_index(name: str, value: object, dim: int | None = None) -> int:
    """A 0-based pair index (of an axis of ``dim`` channels, where given)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a 0-based pair index (int) or None, got {value!r}")
    k = int(value)
    if k < 0:
        raise ValueError(f"{name}={k} is out of range: pair indices count from 0")
    if dim is not None and k >= dim // 2:
        raise ValueError(f"{name}={k} is out of range: an axis of {dim} channels has pairs 0..{dim // 2 - 1}")
    return k


_AXES = "thw"


def check_riflex_k(k: object, rule: str = "cogpe") -> tuple[int | None, int | None, int | None]:
    """RIFLEx's ``riflex_k`` as one entry per axis (None = the intrinsic component); ``(k, None, None)``
    under ``riflex_rule="reference"``, which changes the time axis only."""
    if k is None or (isinstance(k, numbers.Integral) and not isinstance(k, bool)):
        k = (k, None, None) if rule == "reference" else (k, k, k)
    elif isinstance(k, (str, bytes)) or not isinstance(k, Sequence) or len(k) != 3:
        raise TypeError(f"riflex_k must be None, an int or a tuple of 3 (t, h, w), got {k!r}")
    t, h, w = (None if ki is None else check_pair_index(f"riflex_k[{i}] ({_AXES[i]})", ki) for i, ki in enumerate(k))
    if rule == "reference" and (h, w) != (None, None):
        raise ValueError(
            f"riflex_k={tuple(k)!r} names a pair of h or w, but riflex_rule='reference' changes the time "
            f"axis only; give riflex_k={t!r} (the t pair) or use riflex_rule='cogpe' for every axis"
        )
    return t, h, w


def check_repetition_frame(frame: object, rule: str, k_t: int | None) -> int | None:
    """RIFLEx's ``riflex_repetition_frame``: None, or a latent frame >= 1 under ``riflex_rule="reference"``
    with no time-axis ``riflex_k`` ``k_t`` (the frame chooses k, :func:`cogpe.scaling.repetition_component`)."""
    if frame is None:
        return None
    frame = check_size("riflex_repetition_frame", frame, what="latent frame at which the video repeats")
    if rule != "reference":
        raise ValueError(
            f"riflex_repetition_frame={frame} chooses k under riflex_rule='reference' only, got "
            f"riflex_rule={rule!r}; add riflex_rule='reference' (the paper's rule)"
        )
    if k_t is not None:
        raise ValueError(f"riflex_repetition_frame={frame} and riflex_k={k_t} both choose the time axis' pair; give one")
    return frame


def check_videos(name: str, videos: object, *, frames: int = 1) -> torch.Tensor:
    """``videos`` as float64 ``(B, C, T, H, W)`` with C = 1 or 3 and T >= ``frames``, or a clear error."""
    if not isinstance(videos, torch.Tensor):
        raise TypeError(f"{name} must be a tensor (B, C, T, H, W), got {type(videos).__name__}")
    if videos.ndim != 5:
        raise ValueError(f"{name} must have 5 dimensions (B, C, T, H, W), got shape {tuple(videos.shape)}")
    if not videos.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor with values in [-1, 1], got dtype {videos.dtype}")
    if videos.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} has {videos.shape[1]} channels (shape {tuple(videos.shape)}); use 3 (RGB) or 1 "
            "(luminance) in the layout (B, C, T, H, W)"
        )
    if min(videos.shape) < 1:
        raise ValueError(f"{name} is empty: shape {tuple(videos.shape)}")
    if videos.shape[2] < frames:
        raise ValueError(f"{name} needs at least {frames} frames, got T={videos.shape[2]}")
    if not torch.isfinite(videos).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return videos.double()


def check_threshold(value: object) -> float:
    """A foreground ``threshold``: a finite number in (0, 2), the range of a difference of values in [-1, 1]."""
    threshold = check_factor("threshold", value)
    if threshold >= 2:
        raise ValueError(f"threshold={threshold} is not below 2, the largest difference in [-1, 1]; use e.g. 0.2")
    return threshold
