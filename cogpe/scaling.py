"""RoPE at a new resolution or length: one named strategy, applied per axis (chapter 6).

A model trained on the token grid ``base_grid = (T0, H0, W0)`` now meets ``grid = (T, H, W)``. Along
each axis the scale is ``s = n / n0`` (:func:`scale_factors`). Every strategy is a pair — which
positions ``g(m)`` the encoder sees and which frequencies ``h(θ_j)`` it rotates by (YaRN's framing,
``f'(x, m, θ_j) = f(x, g(m), h(θ_j))``) — with ``θ_j = θ**(-2j/d)`` for the ``d`` channels of that
axis (``d/2`` pairs, j = 0 … d/2-1), wavelength ``λ_j = 2π/θ_j`` and turns in the training window
``r_j = n0/λ_j``:

=============================  ============================  ======================================  =============================
strategy                       positions ``g(m)``            frequencies ``h(θ_j)``                  source
=============================  ============================  ======================================  =============================
``"extrapolate"``              ``m``                         ``θ_j``                                 CogVideoX-5B and 1.5 (SAT)
``"interpolate"``              ``m / s``                     ``θ_j``                                 PI: Chen et al. 2023,
                                                                                                     arXiv 2306.15595, Eq. 4;
                                                                                                     CogVideoX-2B's index division
``"ntk"``                      ``m``                         ``(θ·s^(d/(d-2)))^(-2j/d)``             NTK-aware: bloc97 2023;
                                                             ``= θ_j·s^(-2j/(d-2))``                 YaRN §3.1, App. A.1
``"yarn"``                     ``m``                         ``(1-γ(r_j))·θ_j/s + γ(r_j)·θ_j``;      YaRN: Peng et al. 2023,
                                                             cos, sin × ``0.1·ln(s) + 1``            arXiv 2309.00071,
                                                                                                     Def. 2–3, Eq. 21–22
``"riflex"``                   ``m``                         ``θ_k → min(θ_k, margin·2π/(s·n0))``,   RIFLEx: Zhao et al. 2025,
                                                             every other ``θ_j`` kept                arXiv 2502.15894, Eq. 8
``"linspace-crop"``            t: ``m``; h, w: ``n`` points  ``θ_j``                                 diffusers CogVideoX 1.0
                               on the crop region (numpy                                             pipeline (≤ 0.31)
                               ``endpoint=False``)
``"linspace-crop-diffusers"``  as above, with diffusers'     ``θ_j``                                 diffusers ≥ 0.32 (differs
                               ``torch.linspace(start,                                               when the crop start ≠ 0)
                               stop·(n-1)/n, n)``
=============================  ============================  ======================================  =============================

YaRN's ramp is the paper's, linear in ``r``: ``γ(r) = 0`` for ``r < α``, ``1`` for ``r > β``,
``(r-α)/(β-α)`` between (its reference code ramps linearly in ``j`` instead; the two differ on short
video axes, pe-literature §4.3 table E).

Our choices (not the papers'):

- **s ≤ 1 is plain extrapolation.** Every strategy except the two linspace-crop ones acts only on axes
  with ``s > 1`` and gives exactly ``arange(n)`` and ``θ_j`` where ``s ≤ 1``: a grid no longer than the
  training one sees a prefix of the positions the model was trained on, so there is nothing to fix.
  The linspace-crop strategies reproduce diffusers, which rescales at every size (also smaller grids).
- **YaRN's β defaults to 4 turns, not LLaMA's 32.** Video axes are 13–45 tokens long, so with β = 32
  no channel would ever be "kept" and YaRN would collapse to PI (pe-literature §4.3 table E); α = 1,
  β = 4 turns is also Llama 3.1's parameterisation (pe-literature §2.5).
- **YaRN's temperature uses the largest per-axis scale** (one softmax over all ``T·H·W`` tokens).
- **RIFLEx's default k** is the first component whose period ``2π/θ_j`` exceeds ``n0`` — the paper
  picks k from the frame where an extrapolated video repeats; on CogVideoX-5B's temporal axis
  (d = 16, n0 = 13) both give the paper's k = 2 (1-indexed), i.e. 0-based 1, period 19.9.
"""

from __future__ import annotations

import math
import numbers
from types import MappingProxyType
from typing import Sequence

import torch

from ._checks import check_choice, check_factor, check_grid, check_size, check_split
from .grids import arange_positions, crop_positions, crop_region, divided_positions
from .rope import default_split, rope_3d, rope_frequencies

__all__ = [
    "STRATEGIES",
    "STRATEGY_OPTIONS",
    "attention_scale",
    "intrinsic_component",
    "ntk_frequencies",
    "riflex_frequencies",
    "scale_factors",
    "scaled_axes",
    "scaled_rope_3d",
    "yarn_attention_factor",
    "yarn_frequencies",
    "yarn_ramp",
]

STRATEGIES = (
    "extrapolate",
    "interpolate",
    "ntk",
    "yarn",
    "riflex",
    "linspace-crop",
    "linspace-crop-diffusers",
)

#: The options each strategy accepts, with their defaults; strategies not listed take none.
STRATEGY_OPTIONS = MappingProxyType(
    {
        "yarn": MappingProxyType({"yarn_alpha": 1.0, "yarn_beta": 4.0, "yarn_temperature": True}),
        "riflex": MappingProxyType({"riflex_k": None, "riflex_margin": 1.0}),
    }
)

_AXES = "thw"


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
    """YaRN's ``√(1/t) = 0.1·ln(s) + 1`` for ``s > 1``, 1.0 for ``s ≤ 1`` (YaRN Eq. 22, pe-literature §4.6).

    Multiplying both cos and sin by it multiplies every logit by its square.

    >>> round(yarn_attention_factor(1.875), 4), round(yarn_attention_factor(2.0), 4)
    (1.0629, 1.0693)
    """
    s = check_factor("s", s)
    return 0.1 * math.log(s) + 1.0 if s > 1 else 1.0


def attention_scale(strategy: str, grid, base_grid) -> float:
    """The factor ``scaled_rope_3d`` multiplies cos and sin by: YaRN's temperature, else 1.0.

    For ``"yarn"`` it is :func:`yarn_attention_factor` of the largest per-axis scale (our choice for
    3-D: one softmax runs over all ``T·H·W`` tokens); every other strategy returns 1.0.

    >>> round(attention_scale("yarn", (26, 30, 45), (13, 30, 45)), 4)   # s = (2, 1, 1)
    1.0693
    >>> attention_scale("ntk", (26, 30, 45), (13, 30, 45))
    1.0
    """
    strategy = check_choice("strategy", strategy, STRATEGIES)
    s = max(scale_factors(grid, base_grid))
    return yarn_attention_factor(s) if strategy == "yarn" else 1.0


# --- per-axis frequencies --------------------------------------------------------------------------


def ntk_frequencies(dim: int, s: float, theta: float = 10000.0) -> torch.Tensor:
    """NTK-aware frequencies ``(θ·s^(d/(d-2)))^(-2j/d) = θ_j·s^(-2j/(d-2))``: shape ``(dim/2,)``, float64.

    The base is chosen so that the last pair (``2j = d-2``) is divided by ``s`` exactly like PI while
    the first (``θ_0 = 1``) is unchanged (YaRN App. A.1). Unchanged ``θ_j`` for ``s ≤ 1``.

    >>> ntk_frequencies(16, 2.0)[[0, -1]] / rope_frequencies(16)[[0, -1]]
    tensor([1.0000, 0.5000], dtype=torch.float64)
    """
    dim = _check_axis_dim(dim)
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
    alpha, beta = _check_alpha_beta(alpha, beta)
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
    dim = _check_axis_dim(dim)
    n0 = check_size("n0", n0)
    s = check_factor("s", s)
    freqs = rope_frequencies(dim, theta)  # (dim/2,)
    gamma = yarn_ramp(n0 * freqs / (2 * math.pi), alpha, beta)  # (dim/2,)
    return freqs if s <= 1 else (1 - gamma) * freqs / s + gamma * freqs


def intrinsic_component(dim: int, n0: int, theta: float = 10000.0) -> int:
    """RIFLEx's default k (0-based): the first pair whose period ``2π/θ_j`` exceeds ``n0`` tokens.

    Our reading of RIFLEx §3.3 (the paper picks k from where an extrapolated video repeats); for
    CogVideoX-5B's temporal axis it gives the paper's k = 2 (1-indexed).

    >>> intrinsic_component(16, 13)   # periods 6.28, 19.9, …: 19.9 > 13
    1
    """
    dim = _check_axis_dim(dim)
    n0 = check_size("n0", n0)
    periods = 2 * math.pi / rope_frequencies(dim, theta)  # (dim/2,), increasing
    longer = (periods > n0).nonzero()
    if len(longer) == 0:
        raise ValueError(
            f"no pair of a dim={dim} axis has a period longer than n0={n0} tokens "
            f"(longest: {periods[-1].item():.1f}); pass riflex_k=… explicitly"
        )
    return int(longer[0])


def riflex_frequencies(
    dim: int, n0: int, s: float, theta: float = 10000.0, *, k: int | None = None, margin: float = 1.0
) -> torch.Tensor:
    """RIFLEx: ``θ_k → min(θ_k, margin·2π/(s·n0))``, every other ``θ_j`` kept: ``(dim/2,)`` float64 (RIFLEx Eq. 8).

    The new period of pair ``k`` is at least ``s·n0/margin`` ≥ the new length, so it never completes a
    turn (no repetition). ``margin=1`` is the paper's equality; its reference code uses 0.9. ``k``
    defaults to :func:`intrinsic_component`. Our choice: the frequency is only ever *reduced* — where
    pair ``k``'s period already exceeds ``s·n0/margin`` (a spatial axis at a small scale, say) it is
    kept, while the paper's one-line code would raise it to ``margin·2π/(s·n0)``. Unchanged for ``s ≤ 1``.

    >>> 2 * math.pi / riflex_frequencies(16, 13, 25 / 13)[:3]   # 97 frames: periods 6.28, 25, 62.8
    tensor([ 6.2832, 25.0000, 62.8319], dtype=torch.float64)
    """
    dim = _check_axis_dim(dim)
    n0 = check_size("n0", n0)
    s = check_factor("s", s)
    margin = _check_margin(margin)
    k = intrinsic_component(dim, n0, theta) if k is None else _check_k("k", k, dim)
    freqs = rope_frequencies(dim, theta)
    if s > 1:
        freqs[k] = min(freqs[k].item(), margin * 2 * math.pi / (s * n0))
    return freqs


# --- the 3-D strategies ----------------------------------------------------------------------------


def scaled_axes(
    head_dim: int,
    grid,
    base_grid,
    strategy: str = "extrapolate",
    theta: float = 10000.0,
    *,
    split: Sequence[int] | None = None,
    **options,
) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """Per-axis ``(positions, freqs)`` of ``strategy``: three pairs of float64 tensors ``(n,)``, ``(d/2,)``.

    ``grid = (T, H, W)`` is the new grid, ``base_grid = (T0, H0, W0)`` the training one, ``split`` the
    ``(t, h, w)`` channel counts (default ``(hd/4, 3hd/8, 3hd/8)``). ``options`` are those in
    :data:`STRATEGY_OPTIONS` for this strategy: ``yarn_alpha``/``yarn_beta`` (turns), ``riflex_k``
    (0-based; one int, or a tuple per axis with ``None`` for the default) and ``riflex_margin``;
    ``yarn_temperature`` is accepted but only acts on the tables of :func:`scaled_rope_3d`.
    Axes with ``s ≤ 1`` get ``arange(n)`` and ``θ_j`` (except for the linspace-crop strategies).

    >>> (t, ft), (h, fh), (w, fw) = scaled_axes(64, (13, 60, 90), (13, 30, 45), "interpolate")
    >>> t[:3].tolist(), h[:3].tolist(), fh.shape
    ([0.0, 1.0, 2.0], [0.0, 0.5, 1.0], torch.Size([12]))
    """
    strategy = check_choice("strategy", strategy, STRATEGIES)
    split = _check_head_split(head_dim, split)
    grid = check_grid("grid", grid, 3)
    base_grid = check_grid("base_grid", base_grid, 3)
    theta = check_factor("theta", theta)
    opts = _check_options(strategy, options, split)
    if strategy.startswith("linspace-crop"):
        return _crop_axes(grid, base_grid, split, theta, strategy)
    return tuple(
        _scaled_axis(strategy, n, n0, d, theta, opts, axis)
        for axis, (n, n0, d) in enumerate(zip(grid, base_grid, split))
    )


def scaled_rope_3d(
    head_dim: int,
    grid,
    base_grid,
    strategy: str = "extrapolate",
    theta: float = 10000.0,
    *,
    split: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
    **options,
) -> tuple[torch.Tensor, torch.Tensor]:
    """3-D RoPE tables ``(cos, sin)``, each ``(T*H*W, head_dim)``, for ``grid`` under ``strategy``.

    :func:`scaled_axes` chooses positions and frequencies; :func:`cogpe.rope.rope_3d` builds the table
    (CogVideoX-5B layout, angles in float64, returned in ``dtype`` on ``device``). For ``"yarn"``,
    cos and sin are multiplied by :func:`attention_scale` unless ``yarn_temperature=False``.

    >>> cos, sin = scaled_rope_3d(64, (26, 30, 45), (13, 30, 45), "riflex")
    >>> cos.shape
    torch.Size([35100, 64])
    """
    axes = scaled_axes(head_dim, grid, base_grid, strategy, theta, split=split, **options)
    positions = [p.to(device) for p, _ in axes]  # (T,), (H,), (W,)
    freqs = [f.to(device) for _, f in axes]  # (dt/2,), (dh/2,), (dw/2,)
    cos, sin = rope_3d(head_dim, positions=positions, freqs=freqs, split=split, dtype=dtype, device=device)
    factor = attention_scale(strategy, grid, base_grid) if options.get("yarn_temperature", True) else 1.0
    if factor != 1.0:
        cos, sin = cos * factor, sin * factor
    return cos, sin


def _scaled_axis(strategy, n, n0, d, theta, opts, axis) -> tuple[torch.Tensor, torch.Tensor]:
    """One axis of a position/frequency strategy: ``(positions (n,), freqs (d/2,))``, float64."""
    s = n / n0
    if s <= 1 or strategy == "extrapolate":
        return arange_positions(n), rope_frequencies(d, theta)
    if strategy == "interpolate":
        return divided_positions(n, s), rope_frequencies(d, theta)
    if strategy == "ntk":
        return arange_positions(n), ntk_frequencies(d, s, theta)
    if strategy == "yarn":
        alpha, beta = opts["yarn_alpha"], opts["yarn_beta"]
        return arange_positions(n), yarn_frequencies(d, n0, s, theta, alpha=alpha, beta=beta)
    k, margin = opts["riflex_k"][axis], opts["riflex_margin"]
    return arange_positions(n), riflex_frequencies(d, n0, s, theta, k=k, margin=margin)


def _crop_axes(grid, base_grid, split, theta, strategy) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """diffusers' CogVideoX 1.0 positions: t ``arange(T)``, h and w spread over the crop region."""
    convention = "diffusers" if strategy.endswith("diffusers") else "numpy"
    (top, left), (bottom, right) = crop_region(grid[1:], base_grid[1:])
    if bottom == top or right == left:
        raise ValueError(
            f"{strategy} cannot fit grid (H, W)={grid[1:]} into base_grid (H0, W0)={base_grid[1:]}: "
            f"its aspect ratio rounds the crop region (({top}, {left}), ({bottom}, {right})) to zero "
            "size; use a larger base_grid or a less elongated grid"
        )
    h, w = crop_positions(grid[1:], base_grid[1:], convention=convention)  # (H,), (W,)
    positions = (arange_positions(grid[0]), h.to(torch.float64), w.to(torch.float64))
    return tuple((p, rope_frequencies(d, theta)) for p, d in zip(positions, split))


# --- validation ------------------------------------------------------------------------------------


def _check_axis_dim(dim) -> int:
    dim = check_size("dim", dim)
    if dim % 2:
        raise ValueError(f"dim={dim} must be even: channels rotate in pairs")
    return dim


def _check_head_split(head_dim, split) -> tuple[int, int, int]:
    head_dim = check_size("head_dim", head_dim)
    return default_split(head_dim) if split is None else check_split("split", split, head_dim, "head_dim")


def _check_options(strategy: str, options: dict, split) -> dict:
    """Options merged over the strategy's defaults, validated; ``riflex_k`` becomes one entry per axis."""
    defaults = STRATEGY_OPTIONS.get(strategy, {})
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        valid = "; ".join(f"{k!r}: {', '.join(v)}" for k, v in STRATEGY_OPTIONS.items())
        given = ", ".join(f"{name}={options[name]!r}" for name in unknown)
        raise TypeError(f"strategy {strategy!r} takes no option {given}; options by strategy: {valid}")
    opts = {**defaults, **options}
    if strategy == "yarn":
        opts["yarn_alpha"], opts["yarn_beta"] = _check_alpha_beta(opts["yarn_alpha"], opts["yarn_beta"])
        if not isinstance(opts["yarn_temperature"], bool):
            raise TypeError(f"yarn_temperature must be True or False, got {opts['yarn_temperature']!r}")
    if strategy == "riflex":
        opts["riflex_margin"] = _check_margin(opts["riflex_margin"])
        opts["riflex_k"] = _check_axis_ks(opts["riflex_k"], split)
    return opts


def _check_turns(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number of turns, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of turns >= 0, got {value}")
    return value


def _check_alpha_beta(alpha, beta) -> tuple[float, float]:
    alpha, beta = _check_turns("yarn_alpha", alpha), _check_turns("yarn_beta", beta)
    if beta <= alpha:
        raise ValueError(
            f"yarn_beta={beta} must be greater than yarn_alpha={alpha} (the ramp runs from α to β turns)"
        )
    return alpha, beta


def _check_margin(margin) -> float:
    margin = check_factor("riflex_margin", margin)
    if margin > 1:
        raise ValueError(
            f"riflex_margin={margin} must be in (0, 1]: above 1 the new period s·n0/margin is shorter "
            "than the new length and the intrinsic component repeats again (RIFLEx Eq. 8)"
        )
    return margin


def _check_k(name: str, k, dim: int) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be a 0-based pair index (int) or None, got {k!r}")
    if not 0 <= k < dim // 2:
        raise ValueError(f"{name}={k} is out of range: an axis of {dim} channels has pairs 0..{dim // 2 - 1}")
    return int(k)


def _check_axis_ks(k, split) -> tuple[int | None, int | None, int | None]:
    """``riflex_k`` as one entry per axis (None = :func:`intrinsic_component`), each checked against split."""
    if k is None or isinstance(k, numbers.Integral):
        k = (k, k, k)
    elif isinstance(k, (str, bytes)) or not isinstance(k, Sequence) or len(k) != 3:
        raise TypeError(f"riflex_k must be None, an int or a tuple of 3 (t, h, w), got {k!r}")
    return tuple(
        None if ki is None else _check_k(f"riflex_k[{i}] ({_AXES[i]})", ki, d)
        for i, (ki, d) in enumerate(zip(k, split))
    )
