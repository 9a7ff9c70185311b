"""The formulas of RoPE scaling, one axis at a time (chapter 6).

A model trained on ``n0`` tokens along an axis now meets ``n``; the scale is ``s = n / n0``
(:func:`scale_factors`). With ``θ_j = θ**(-2j/d)`` for the ``d`` channels of the axis (``d/2`` pairs,
j = 0 … d/2-1), wavelength ``λ_j = 2π/θ_j`` and turns in the training window ``r_j = n0/λ_j``:

- :func:`ntk_frequencies`: ``(θ·s^(d/(d-2)))^(-2j/d) = θ_j·s^(-2j/(d-2))`` (NTK-aware, bloc97_2023ntk;
  peng2024yarn App. A.1);
- :func:`yarn_frequencies`: ``(1-γ(r_j))·θ_j/s + γ(r_j)·θ_j`` (NTK-by-parts, peng2024yarn Def. 2–3), and
  :func:`yarn_attention_factor`: cos and sin × ``0.1·ln(s) + 1`` (peng2024yarn Eq. 22);
- :func:`riflex_frequencies`: ``θ_k → min(θ_k, margin·2π/(s·n0))``, every other ``θ_j`` kept
  (zhao2025riflex Eq. 8, cogpe's rule), and :func:`riflex_reference_frequencies`: ``θ_k → margin·2π/L``,
  ``L = s·n0``, margin 0.9, once ``L`` exceeds the period of pair ``k`` (the paper's reference code).

Position interpolation (``m / s``, chen2023extending) needs no formula of its own:
:func:`cogpe.grids.divided_positions`. Which of these a named strategy uses on which axis — and the
rule that an axis with ``s ≤ 1`` is left alone — is :mod:`cogpe.strategy`'s; the functions here are the
per-axis formulas it calls, each also returning ``θ_j`` unchanged for ``s ≤ 1``.

YaRN's ramp is the paper's, linear in ``r``: ``γ(r) = 0`` for ``r < α``, ``1`` for ``r > β``,
``(r-α)/(β-α)`` between (its reference code ramps linearly in ``j`` instead; the two differ on short
video axes, chapter 6, section 6.6). RIFLEx's default ``k`` is the first pair that did not complete a
turn over the trained positions ``0 … n0-1`` — period ``2π/θ_j > n0-1`` (:func:`intrinsic_component`);
on CogVideoX-5B's temporal axis (d = 16, n0 = 13) that is the paper's k = 2 counted from 1, i.e.
0-based 1, period 19.9. The paper picks k instead from the latent frame ``N`` at which an extrapolated
video repeats: the pair whose period, rounded to whole frames, is closest to ``N``
(:func:`repetition_component`, zhao2025riflex Eq. 7).

**Per-token frequencies** (the ``*_per_token`` functions; our generalisation). Some models turn pair
``j`` by ``ω_j`` radians per *token* that is not ``θ^(-2j/d)`` — Allegro divides its positions by a
scale, LTX-Video's frequencies rise from ``π/2`` to ``θ·π/2`` on fractions of a base size, Cosmos
scales ``θ`` and time (``cogpe.adapters.allegro``, ``ltx``, ``cosmos``). The same rules then take the
vector ``ω`` ``(K,)``, in any order: YaRN's ``r_j = n0·ω_j/2π`` and RIFLEx's periods ``2π/ω_j`` are
counted in tokens, k is the *highest-frequency* pair with no complete turn, and NTK is the geometric
rule that keeps the highest frequency and divides the lowest by ``s``: the pair of rank ``r`` (0 the
highest of ``K``) times ``s^(-r/(K-1))`` — for ``ω_j = θ^(-2j/d)`` (rank j) that is
:func:`ntk_frequencies`' ``θ_j·s^(-2j/(d-2))``, up to rounding.
"""

from __future__ import annotations

import math

import torch

from ._checks import (
    check_alpha_beta,
    check_even_dim,
    check_factor,
    check_grid,
    check_margin,
    check_pair_index,
    check_size,
)
from .rope import rope_frequencies

__all__ = [
    "intrinsic_component",
    "intrinsic_pair",
    "ntk_frequencies",
    "ntk_per_token",
    "repetition_pair",
    "riflex_per_token",
    "riflex_reference_per_token",
    "yarn_per_token",
    "repetition_component",
    "riflex_frequencies",
    "riflex_reference_frequencies",
    "scale_factors",
    "whole_periods",
    "yarn_attention_factor",
    "yarn_frequencies",
    "yarn_ramp",
]


# --- scales ----------------------------------------------------------------------------------------


def scale_factors(grid, base_grid) -> tuple[float, float, float]:
    """Per-axis scales ``s = (T/T0, H/H0, W/W0)`` of ``grid`` over the training grid ``base_grid``.

    >>> scale_factors((13, 60, 90), (13, 30, 45))
    (1.0, 2.0, 2.0)
    """
    grid = check_grid("grid", grid, 3)
    base_grid = check_grid("base_grid", base_grid, 3)
    return tuple(n / n0 for n, n0 in zip(grid, base_grid))


def yarn_attention_factor(s: float) -> float:
    """YaRN's ``√(1/t) = 0.1·ln(s) + 1`` for ``s > 1``, 1.0 for ``s ≤ 1`` (YaRN Eq. 22).

    Multiplying both cos and sin by it multiplies every logit by its square — if every token is rotated;
    with unrotated text tokens (CogVideoX) scale the queries by the square instead (chapter 6, section 6.4 (e)).

    >>> round(yarn_attention_factor(1.875), 4), round(yarn_attention_factor(2.0), 4)
    (1.0629, 1.0693)
    """
    s = check_factor("s", s)
    return 0.1 * math.log(s) + 1.0 if s > 1 else 1.0


# --- per-axis frequencies --------------------------------------------------------------------------


def ntk_frequencies(dim: int, s: float, theta: float = 10000.0) -> torch.Tensor:
    """NTK-aware frequencies ``(θ·s^(d/(d-2)))^(-2j/d) = θ_j·s^(-2j/(d-2))``: shape ``(dim/2,)``, float64.

    The base is chosen so that the last pair (``2j = d-2``) is divided by ``s`` exactly like PI while
    the first (``θ_0 = 1``) is unchanged (YaRN App. A.1). Unchanged ``θ_j`` for ``s ≤ 1``.

    >>> ntk_frequencies(16, 2.0)[[0, -1]] / rope_frequencies(16)[[0, -1]]
    tensor([1.0000, 0.5000], dtype=torch.float64)
    """
    dim = check_even_dim("dim", dim)
    s = check_factor("s", s)
    theta = check_factor("theta", theta)
    if s <= 1:
        return rope_frequencies(dim, theta)
    if dim == 2:
        raise ValueError(
            "ntk needs at least 2 channel pairs on a scaled axis (dim >= 4): its exponent d/(d-2) "
            "is undefined for dim=2; give the axis more channels with split=(t, h, w)"
        )
    return rope_frequencies(dim, theta * s ** (dim / (dim - 2)))


def yarn_ramp(r: torch.Tensor, alpha: float = 1.0, beta: float = 4.0) -> torch.Tensor:
    """YaRN's ramp ``γ(r)``: 0 for ``r < α``, 1 for ``r > β``, ``(r-α)/(β-α)`` between (YaRN Def. 2).

    ``r`` (any shape) counts turns in the training window; 1 keeps a frequency, 0 divides it by s.

    >>> yarn_ramp(torch.tensor([0.5, 1.0, 2.5, 4.0, 9.0]))
    tensor([0.0000, 0.0000, 0.5000, 1.0000, 1.0000])
    """
    alpha, beta = check_alpha_beta(alpha, beta)
    return ((torch.as_tensor(r) - alpha) / (beta - alpha)).clamp(0.0, 1.0)


def yarn_frequencies(
    dim: int, n0: int, s: float, theta: float = 10000.0, *, alpha: float = 1.0, beta: float = 4.0
) -> torch.Tensor:
    """NTK-by-parts frequencies ``(1-γ(r_j))·θ_j/s + γ(r_j)·θ_j``, ``r_j = n0·θ_j/2π``: ``(dim/2,)`` float64.

    Pairs with fewer than ``α`` turns in the ``n0`` training tokens are interpolated like PI, pairs
    with more than ``β`` are kept, a linear blend in ``r`` between (YaRN Def. 2). Unchanged for ``s ≤ 1``.

    >>> (yarn_frequencies(16, 13, 2.0) / rope_frequencies(16))[:3]   # CogVideoX-5B t: r = 2.07, 0.65, …
    tensor([0.6782, 0.5000, 0.5000], dtype=torch.float64)
    """
    dim = check_even_dim("dim", dim)
    n0 = check_size("n0", n0)
    s = check_factor("s", s)
    return yarn_per_token(rope_frequencies(dim, theta), n0, s, alpha=alpha, beta=beta)


def intrinsic_component(dim: int, n0: int, theta: float = 10000.0) -> int:
    """RIFLEx's default k (0-based): the first pair that did not complete a turn in training.

    Trained on positions ``0 … n0-1``, pair j has seen the arc ``[0, (n0-1)·θ_j]``; it is *complete* when
    that arc reaches ``2π`` (chapter 4, section 4.3), i.e. when its period ``2π/θ_j`` is at most ``n0-1``.
    k is the first incomplete pair — cogpe's rule, not the paper's (the paper picks k from where an
    extrapolated video repeats: :func:`repetition_component`); for CogVideoX-5B's temporal axis it gives the paper's k = 2 (1-indexed).

    >>> intrinsic_component(16, 13)   # periods 6.28, 19.9, …: 19.9 > 12
    1
    """
    dim = check_even_dim("dim", dim)
    n0 = check_size("n0", n0)
    periods = 2 * math.pi / rope_frequencies(dim, theta)  # (dim/2,), increasing
    incomplete = (periods > n0 - 1).nonzero()
    if len(incomplete) == 0:
        raise ValueError(
            f"every pair of a dim={dim} axis completed a turn over n0={n0} trained positions (longest "
            f"period: {periods[-1].item():.1f} <= {n0 - 1}); pass riflex_k=… explicitly"
        )
    return int(incomplete[0])


def _riflex_inputs(
    dim: int, n0: int, s: float, theta: float, k: int | None, margin: float
) -> tuple[int, int, float, float, int, torch.Tensor]:
    """Both RIFLEx rules' inputs checked: ``dim, n0, s, margin``, the pair ``k`` (default the intrinsic
    component) and the unscaled frequencies ``(dim/2,)`` float64."""
    dim = check_even_dim("dim", dim)
    n0 = check_size("n0", n0)
    k = intrinsic_component(dim, n0, theta) if k is None else check_pair_index("k", k, dim)
    return dim, n0, check_factor("s", s), check_margin(margin), k, rope_frequencies(dim, theta)


def riflex_frequencies(
    dim: int, n0: int, s: float, theta: float = 10000.0, *, k: int | None = None, margin: float = 1.0
) -> torch.Tensor:
    """RIFLEx: ``θ_k → min(θ_k, margin·2π/(s·n0))``, every other ``θ_j`` kept: ``(dim/2,)`` float64 (RIFLEx Eq. 8).

    cogpe's rule, the default of strategy ``"riflex"``. The new period of pair ``k`` is at least
    ``s·n0/margin`` ≥ the new length, so it never completes a turn (no repetition). ``margin=1`` is the
    paper's equality; its reference code uses 0.9. ``k`` defaults to :func:`intrinsic_component`. Our
    choice: the frequency is only ever *reduced* — where pair ``k``'s period already exceeds
    ``s·n0/margin`` (a spatial axis at a small scale, say) it is kept, while the paper's one-line code
    sets it to ``margin·2π/(s·n0)`` (:func:`riflex_reference_frequencies`). Unchanged for ``s ≤ 1``.

    >>> 2 * math.pi / riflex_frequencies(16, 13, 25 / 13)[:3]   # 97 frames: periods 6.28, 25, 62.8
    tensor([ 6.2832, 25.0000, 62.8319], dtype=torch.float64)
    """
    dim, n0, s, margin, k, freqs = _riflex_inputs(dim, n0, s, theta, k, margin)
    return riflex_per_token(freqs, n0, s, k=k, margin=margin)


def whole_periods(dim: int, theta: float = 10000.0) -> torch.Tensor:
    """Periods ``2π/θ_j`` rounded to whole positions: shape ``(dim/2,)``, float64 (zhao2025riflex Eq. 4).

    The reference code of zhao2025riflex compares these, not the exact periods, with a repetition frame
    and with the new length.

    >>> whole_periods(16).tolist()[:3], whole_periods(16, theta=256.0).tolist()[:5]
    ([6.0, 20.0, 63.0], [6.0, 13.0, 25.0, 50.0, 101.0])
    """
    dim = check_even_dim("dim", dim)
    return torch.round(2 * math.pi / rope_frequencies(dim, check_factor("theta", theta)))


def repetition_component(dim: int, repetition_frame: int, theta: float = 10000.0) -> int:
    """RIFLEx's k (0-based) from an observed repetition: the pair whose period is closest to it.

    ``repetition_frame`` ``N`` is the latent frame at which a video extrapolated with plain RoPE starts
    to repeat; k minimises ``|N_j - N|`` over the :func:`whole_periods` ``N_j`` of the axis, the
    lowest j on a tie (zhao2025riflex Eq. 7, as its reference code computes it). HunyuanVideo's time
    axis (d = 16, θ = 256) repeats near latent frame 48: periods 6, 13, 25, 50, … give the paper's
    k = 4 counted from 1.

    >>> repetition_component(16, 48, theta=256.0)
    3
    """
    periods = whole_periods(dim, theta)  # (dim/2,)
    frame = check_size("repetition_frame", repetition_frame, what="latent frame at which the video repeats")
    return int(torch.argmin((periods - frame).abs()))  # argmin returns the first minimum


def riflex_reference_frequencies(
    dim: int, n0: int, s: float, theta: float = 10000.0, *, k: int | None = None, margin: float = 0.9
) -> torch.Tensor:
    """RIFLEx as its reference code applies it: ``θ_k → margin·2π/L``, ``L = s·n0``: ``(dim/2,)`` float64.

    zhao2025riflex Eq. 8 with the 0.9 of its reference code: pair ``k`` covers ``margin`` of a turn over
    the ``L`` new positions. The frequency is *set*, not compared with ``θ_k``; the reference scripts
    change RoPE only when the new length exceeds the period of pair ``k`` (``L > N_k``, ``N_k`` its
    :func:`whole_periods` entry), so ``θ_k`` is kept for ``L ≤ N_k`` and for ``s ≤ 1``. ``k`` defaults
    to :func:`intrinsic_component`; the paper picks it with :func:`repetition_component`. Which axis
    this applies to (the time axis only) is :mod:`cogpe.strategy`'s ``riflex_rule="reference"``;
    chapter 6, section 6.1 sets it beside :func:`riflex_frequencies`.

    >>> 2 * math.pi / riflex_reference_frequencies(16, 13, 25 / 13)[:3]   # 97 frames: 25 latent
    tensor([ 6.2832, 27.7778, 62.8319], dtype=torch.float64)
    """
    dim, n0, s, margin, k, freqs = _riflex_inputs(dim, n0, s, theta, k, margin)
    return riflex_reference_per_token(freqs, n0, s, k=k, margin=margin)  # its periods: whole_periods'


# --- per-token frequencies (module docstring) -----------------------------------------------------


def _per_token(freqs: object) -> torch.Tensor:
    """``freqs`` as a float64 vector ``(K,)`` of positive finite radians per token; ValueError otherwise."""
    f = torch.as_tensor(freqs, dtype=torch.float64).clone()
    if f.ndim != 1 or len(f) == 0 or not bool(torch.isfinite(f).all()) or bool((f <= 0).any()):
        raise ValueError(f"per-token frequencies must be a 1-D tensor of positive finite radians per token, got {freqs!r}")
    return f


def ntk_per_token(freqs, s: float) -> torch.Tensor:
    """NTK on per-token frequencies ``(K,)``: rank ``r`` (0 the highest) times ``s^(-r/(K-1))``, float64.

    >>> ntk_per_token(rope_frequencies(16) / 2, 2.0)[[0, -1]] * 2 / rope_frequencies(16)[[0, -1]]
    tensor([1.0000, 0.5000], dtype=torch.float64)
    """
    f, s = _per_token(freqs), check_factor("s", s)
    if s <= 1:
        return f
    if len(f) == 1:
        raise ValueError("ntk needs at least 2 channel pairs on a scaled axis: one pair has no lowest and highest")
    rank = torch.empty(len(f), dtype=torch.float64)
    rank[torch.argsort(f, descending=True, stable=True)] = torch.arange(len(f), dtype=torch.float64)
    return f * s ** (-rank / (len(f) - 1))


def yarn_per_token(freqs, n0: int, s: float, *, alpha: float = 1.0, beta: float = 4.0) -> torch.Tensor:
    """YaRN on per-token frequencies ``(K,)``: ``(1-γ(r))·ω/s + γ(r)·ω``, ``r = n0·ω/2π`` turns, float64.

    >>> yarn_per_token(rope_frequencies(16), 13, 2.0).equal(yarn_frequencies(16, 13, 2.0))
    True
    """
    f, n0, s = _per_token(freqs), check_size("n0", n0), check_factor("s", s)
    gamma = yarn_ramp(n0 * f / (2 * math.pi), alpha, beta)  # (K,)
    return f if s <= 1 else (1 - gamma) * f / s + gamma * f


def intrinsic_pair(freqs, n0: int) -> int:
    """RIFLEx's default k for per-token frequencies ``(K,)``: the highest-frequency pair whose period
    ``2π/ω`` exceeds ``n0 - 1`` (no complete turn in training); :func:`intrinsic_component` for ``θ_j``.

    >>> intrinsic_pair(rope_frequencies(16), 13), intrinsic_pair(rope_frequencies(16).flip(0), 13)
    (1, 6)
    """
    f, n0 = _per_token(freqs), check_size("n0", n0)
    incomplete = (2 * math.pi / f > n0 - 1).nonzero().flatten()
    if len(incomplete) == 0:
        raise ValueError(
            f"every pair completed a turn over n0={n0} trained positions (longest period: "
            f"{(2 * math.pi / f).max().item():.1f} <= {n0 - 1}); pass riflex_k=… explicitly"
        )
    return int(incomplete[torch.argmax(f[incomplete])])


def riflex_per_token(freqs, n0: int, s: float, *, k: int | None = None, margin: float = 1.0) -> torch.Tensor:
    """cogpe's RIFLEx on per-token frequencies ``(K,)``: ``ω_k → min(ω_k, margin·2π/(s·n0))``, float64;
    ``k`` indexes ``freqs`` (default :func:`intrinsic_pair`)."""
    f, n0, s, margin = _per_token(freqs), check_size("n0", n0), check_factor("s", s), check_margin(margin)
    k = intrinsic_pair(f, n0) if k is None else check_pair_index("k", k, 2 * len(f))
    if s > 1:
        f[k] = min(f[k].item(), margin * 2 * math.pi / (s * n0))
    return f


def repetition_pair(freqs, repetition_frame: int) -> int:
    """RIFLEx's k from a repetition frame ``N`` for per-token frequencies ``(K,)``: the pair whose period
    rounded to whole tokens is closest to ``N``, the lowest index on a tie (:func:`repetition_component`)."""
    periods = torch.round(2 * math.pi / _per_token(freqs))  # (K,)
    frame = check_size("repetition_frame", repetition_frame, what="latent frame at which the video repeats")
    return int(torch.argmin((periods - frame).abs()))


def riflex_reference_per_token(freqs, n0: int, s: float, *, k: int | None = None, margin: float = 0.9) -> torch.Tensor:
    """RIFLEx's reference rule on per-token frequencies ``(K,)``: ``ω_k → margin·2π/L``, ``L = s·n0``, once
    ``L`` exceeds pair k's period rounded to whole tokens (:func:`riflex_reference_frequencies`), float64."""
    f, n0, s, margin = _per_token(freqs), check_size("n0", n0), check_factor("s", s), check_margin(margin)
    k = intrinsic_pair(f, n0) if k is None else check_pair_index("k", k, 2 * len(f))
    length = s * n0  # L_test, the new number of positions; s = n/n0 may leave float rounding in it
    length = float(round(length)) if math.isclose(length, round(length), rel_tol=1e-12) else length
    if s > 1 and length > round(2 * math.pi / f[k].item()):
        f[k] = margin * 2 * math.pi / length
    return f
