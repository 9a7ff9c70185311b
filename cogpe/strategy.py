"""What an encoder does at a new resolution or length: one named strategy for every encoding (chapter 6).

A model trained on the token grid ``base_grid = (T0, H0, W0)`` now meets ``grid = (T, H, W)``; along
each axis the scale is ``s = n / n0``. A :class:`Strategy` is a name plus options; it says, per axis,
which positions ``g(m)`` the encoder sees and which frequencies ``h(θ_j)`` it rotates by (YaRN's
framing, ``f'(x, m, θ_j) = f(x, g(m), h(θ_j))``, peng2024yarn), and which factor multiplies the
attention logits. The formulas are :mod:`cogpe.scaling`'s; this module is the only place that names
strategies and decides where each formula applies.

=============================  ============================  ======================================  ===================
strategy                       positions ``g(m)``            frequencies ``h(θ_j)``                  source
=============================  ============================  ======================================  ===================
``"extrapolate"``              ``m``                         ``θ_j``                                 plain RoPE
``"interpolate"``              ``m / s``                     ``θ_j``                                 chen2023extending;
                                                                                                     CogVideoX-2B's
                                                                                                     index division
``"ntk"``                      ``m``                         ``θ_j·s^(-2j/(d-2))``                   bloc97_2023ntk
``"yarn"``                     ``m``                         NTK-by-parts; logits × factor²          peng2024yarn
``"riflex"``                   ``m``                         ``θ_k → min(θ_k, margin·2π/(s·n0))``    zhao2025riflex
                                                             on every axis; with
                                                             ``riflex_rule="reference"``
                                                             t only, ``θ_k → 0.9·2π/(s·n0)``
``"linspace-crop"``            t: ``m``; h, w: ``n`` points  ``θ_j``                                 diffusers CogVideoX
                               on the crop region (numpy                                             1.0 pipeline
                               ``endpoint=False``)                                                   (≤ 0.31)
``"linspace-crop-diffusers"``  as above, diffusers'          ``θ_j``                                 diffusers ≥ 0.32
                               ``torch.linspace``
``"scale-shift"``              ``shift + scale·m`` per axis  ``θ_j``                                 ComfyUI's ScaleROPE
                               (fixed, at every size)                                                node (comfyui2025
                                                                                                     scalerope)
``"resample"``                 a learned table, resampled    —                                       fang2023eva02
                               to the grid
                               (:mod:`cogpe.resample`)
=============================  ============================  ======================================  ===================

Every encoding takes the strategies :data:`ENCODINGS` lists: a sincos table has fixed frequencies
(``extrapolate``, or ``interpolate`` — CogVideoX-2B's index division is this strategy applied to
sincos), RoPE takes every position and frequency strategy — ``scale-shift`` too, a fixed map of
positions made for RoPE models — and a learned table can only be resampled.

Our choices (not the papers'):

- **s ≤ 1 is plain extrapolation.** Every strategy except the two linspace-crop ones and
  ``scale-shift`` acts only on axes
  with ``s > 1`` and gives exactly ``arange(n)`` and ``θ_j`` where ``s ≤ 1``: a grid no longer than the
  training one sees a prefix of the positions the model was trained on, so there is nothing to fix.
  The linspace-crop strategies reproduce diffusers, which rescales at every size; ``scale-shift`` is
  the user's own map (``position_scale``, ``position_shift``), applied at every size as ComfyUI does,
  and is the identity at its defaults (1, 0). :meth:`Strategy.axes`
  is the one place this rule lives (RIFLEx's reference code, too, acts only past pair k's period).
- **RIFLEx's default rule is ours** (:data:`RIFLEX_RULES`): every axis with ``s > 1``, k the first pair
  with no complete turn in training, its frequency only lowered, margin 1. ``riflex_rule="reference"``
  is the paper's (:func:`cogpe.scaling.riflex_reference_frequencies`).
- **YaRN's β defaults to 4 turns, not LLaMA's 32.** Video axes are 13–45 tokens long: with β = 32 no
  channel is ever "kept" and YaRN comes close to PI (γ ≤ 0.2 on CogVideoX's axes; chapter 6, section 6.6).
- **YaRN's temperature uses the largest per-axis scale** (one softmax over all ``T·H·W`` tokens), not
  the token-count ratio ``∏ s``: untested against it; ``attention_factor`` overrides it.
- **A fixed ``factor``** (transformers' ``rope_scaling["factor"]``, one number or one per axis)
  replaces ``s = n/n0`` where given; by default the scale follows the grid.

Wherever a strategy is taken (``StrategyLike``) it may be a :class:`Strategy`, a name with options as
keyword arguments, or a ``rope_scaling`` dict; :func:`as_strategy` reads all three.

The lab model's encodings ``"<encoding>-<strategy>"`` are read by :func:`parse_model_strategy`, ``rope_scaling``
dicts by :func:`from_rope_scaling` (chapter 6, section 6.6); the tables are :mod:`cogpe.strategy_tables`'.
"""

from __future__ import annotations

import numbers
from dataclasses import Field, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Mapping, Sequence, Union

import torch

from ._checks import (check_alpha_beta, check_choice, check_even_dim, check_factor, check_factors, check_grid,
                      check_margin, check_offsets, check_pair_index, check_repetition_frame, check_riflex_k, check_size)
from .grids import (arange_positions, crop_positions, crop_region, diffusers_linspace_positions, divided_positions,
                    linspace_positions)
from .rope import rope_3d, rope_frequencies
from .scaling import (ntk_frequencies, ntk_per_token, repetition_component, repetition_pair, riflex_frequencies,
                      riflex_per_token, riflex_reference_frequencies, riflex_reference_per_token, yarn_attention_factor,
                      yarn_frequencies, yarn_per_token)
from .sincos import sincos_3d

__all__ = [
    "ENCODINGS",
    "MODEL_STRATEGIES",
    "NOISE_SHIFTED",
    "PER_TOKEN",
    "RIFLEX_RULES",
    "ROPE_TYPES",
    "STRATEGIES",
    "STRATEGY_OPTIONS",
    "Strategy",
    "as_strategy",
    "from_rope_scaling",
    "parse_model_strategy",
]

#: Every strategy name, in the order of chapter 6.
STRATEGIES = ("extrapolate", "interpolate", "ntk", "yarn", "riflex", "linspace-crop", "linspace-crop-diffusers",
              "scale-shift", "resample")
_CROP = ("linspace-crop", "linspace-crop-diffusers")
_SCALED = ("interpolate", "ntk", "yarn", "riflex")  # the strategies that take a fixed ``factor``
#: The RoPE strategies :meth:`Strategy.token_axes` takes (all but the crop ones, made for CogVideoX's grid).
PER_TOKEN = tuple(name for name in STRATEGIES[:-1] if name not in _CROP)

#: The strategies each encoding can use at a new grid.
ENCODINGS = MappingProxyType(
    {
        "sincos": ("extrapolate", "interpolate"),
        "rope": STRATEGIES[:-1],
        "learned": ("resample",),
    }
)

#: RIFLEx's rules (``riflex_rule``) and the ``riflex_margin`` each defaults to: cogpe's approximation
#: and the paper's reference code (zhao2025riflex; chapter 6, section 6.1).
RIFLEX_RULES = MappingProxyType({"cogpe": 1.0, "reference": 0.9})

#: The options each strategy accepts, with their defaults; strategies not listed take none.
#: ``riflex_margin=None`` is the default of the rule (:data:`RIFLEX_RULES`).
STRATEGY_OPTIONS = MappingProxyType(
    {
        "interpolate": MappingProxyType({"factor": None}),
        "ntk": MappingProxyType({"factor": None}),
        "yarn": MappingProxyType({"factor": None, "yarn_alpha": 1.0, "yarn_beta": 4.0, "attention_factor": None}),
        "riflex": MappingProxyType(
            {"factor": None, "riflex_k": None, "riflex_margin": None, "riflex_rule": "cogpe", "riflex_repetition_frame": None}
        ),
        "scale-shift": MappingProxyType({"position_scale": (1.0, 1.0, 1.0), "position_shift": (0.0, 0.0, 0.0)}),
    }
)

#: The lab model's encodings, ``"<encoding>-<strategy>"``, as :func:`parse_model_strategy` reads them.
#: (Not the crop strategies, made for diffusers' pipeline, nor ``scale-shift``, a map the user picks.)
MODEL_STRATEGIES = tuple(f"{encoding}-{name}" for encoding, names in ENCODINGS.items() for name in names
                         if name not in _CROP + ("scale-shift",))
#: The lab encodings the spatial experiments also train with the noise schedule shifted by the token
#: count (:data:`cogpe.labconfig.SHIFTED`): the interpolation of each family, RoPE's extrapolation and YaRN.
NOISE_SHIFTED = ("sincos-interpolate", "rope-extrapolate", "rope-interpolate", "rope-yarn")

_AXES = "thw"
Axes = tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
StrategyLike = Union["Strategy", str, Mapping[str, Any]]


@dataclass(frozen=True)
class Strategy:
    """A named strategy with its options, validated once (chapter 6, section 6.1).

    ``factor`` fixes the per-axis scale (``None``: ``s = n/n0`` from the grids); ``yarn_alpha`` /
    ``yarn_beta`` are YaRN's ramp bounds in turns, ``attention_factor`` the factor on cos and sin
    (``None``: YaRN's ``0.1·ln(s) + 1``; 1.0 switches the temperature off); ``riflex_k`` the 0-based
    pair per axis (``None``: :func:`cogpe.scaling.intrinsic_component`), ``riflex_margin`` in (0, 1]
    (``None``: the rule's, 1.0 or 0.9), ``riflex_rule`` one of :data:`RIFLEX_RULES`. Under
    ``"reference"`` only the time axis changes: ``riflex_k`` is one int (stored ``(k, None, None)``),
    or ``riflex_repetition_frame`` ``N`` picks k (:func:`cogpe.scaling.repetition_component`), or
    neither and k is the intrinsic component. ``position_scale`` (> 0) and ``position_shift`` (one
    number or one per axis) are ``scale-shift``'s: positions ``shift + scale·m``. Options belong to the strategies
    :data:`STRATEGY_OPTIONS` lists them under.

    >>> Strategy("yarn", yarn_beta=8.0)
    Strategy('yarn', yarn_beta=8.0)
    >>> Strategy("riflex", riflex_rule="reference", riflex_repetition_frame=20)
    Strategy('riflex', riflex_rule='reference', riflex_repetition_frame=20)
    >>> Strategy("ntk", riflex_margin=0.9)
    Traceback (most recent call last):
    ...
    TypeError: strategy 'ntk' takes no option riflex_margin=0.9; ...
    """

    name: str = "extrapolate"
    factor: tuple[float, float, float] | None = None
    yarn_alpha: float = 1.0
    yarn_beta: float = 4.0
    attention_factor: float | None = None
    riflex_k: tuple[int | None, int | None, int | None] = field(default=(None, None, None))
    riflex_margin: float | None = None
    riflex_rule: str = "cogpe"
    riflex_repetition_frame: int | None = None
    position_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    position_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        check_choice("strategy", self.name, STRATEGIES)
        options = _OPTION_NAMES.get(self.name, ())
        foreign = [f for f in _OPTION_FIELDS if f.name not in options and not self._is_default(f)]
        if foreign:
            given = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in foreign)
            raise TypeError(f"strategy {self.name!r} takes no option {given}; {_options_by_strategy()}")
        if self.factor is not None:
            object.__setattr__(self, "factor", check_factors("factor", self.factor, 3))
        alpha, beta = check_alpha_beta(self.yarn_alpha, self.yarn_beta)
        object.__setattr__(self, "yarn_alpha", alpha)
        object.__setattr__(self, "yarn_beta", beta)
        if self.attention_factor is not None:
            object.__setattr__(self, "attention_factor", check_factor("attention_factor", self.attention_factor))
        rule = check_choice("riflex_rule", self.riflex_rule, tuple(RIFLEX_RULES))
        object.__setattr__(self, "riflex_k", check_riflex_k(self.riflex_k, rule))
        margin = RIFLEX_RULES[rule] if self.riflex_margin is None else self.riflex_margin
        object.__setattr__(self, "riflex_margin", check_margin(margin))
        object.__setattr__(self, "position_scale", check_factors("position_scale", self.position_scale, 3))
        object.__setattr__(self, "position_shift", check_offsets("position_shift", self.position_shift, 3))
        object.__setattr__(self, "riflex_repetition_frame",
                           check_repetition_frame(self.riflex_repetition_frame, self.riflex_rule, self.riflex_k[0]))

    def _is_default(self, f: Field) -> bool:
        """Whether option field ``f`` holds its default (``riflex_margin``: None or the rule's)."""
        value = getattr(self, f.name)
        if f.name == "riflex_margin":
            rule = "reference" if self.riflex_rule == "reference" else "cogpe"
            return value is None or value == RIFLEX_RULES[rule]
        return value == f.default

    def __repr__(self) -> str:
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in _OPTION_FIELDS if not self._is_default(f)]
        return f"Strategy({', '.join([repr(self.name), *changed])})"

    def options(self) -> dict[str, Any]:
        """The options that differ from their defaults, as keyword arguments."""
        return {f.name: getattr(self, f.name) for f in _OPTION_FIELDS if not self._is_default(f)}

    def scales(self, grid: tuple[int, int, int], base_grid: tuple[int, int, int]) -> tuple[float, float, float]:
        """Per-axis scales: ``factor`` if fixed, else ``(T/T0, H/H0, W/W0)``."""
        if self.factor is not None:
            return self.factor
        t, h, w = (n / n0 for n, n0 in zip(grid, base_grid))
        return t, h, w

    def axes(self, grid, base_grid, split: Sequence[int], theta: float = 10000.0) -> Axes:
        """Per-axis ``(positions (n,), freqs (d/2,))``, float64, for the channel ``split = (t, h, w)``.

        >>> (t, _), (h, fh), _ = Strategy("interpolate").axes((13, 60, 90), (13, 30, 45), (16, 24, 24))
        >>> t[:2].tolist(), h[:3].tolist(), fh.shape
        ([0.0, 1.0], [0.0, 0.5, 1.0], torch.Size([12]))
        """
        grid, base_grid = check_grid("grid", grid, 3), check_grid("base_grid", base_grid, 3)
        self.check_split(split)
        self._check_not_resample()
        if self.name in _CROP:
            return _crop_axes(self.name, grid, base_grid, split, theta)
        scales = self.scales(grid, base_grid)
        t, h, w = (
            (self._positions(n, s, i), self._frequencies(n0, s, d, theta, i))
            for i, (n, n0, s, d) in enumerate(zip(grid, base_grid, scales, split))
        )
        return t, h, w

    def axis(self, n: int, n0: int, dim: int, theta: float = 10000.0, *, axis: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """One axis on its own: ``(positions (n,), freqs (dim/2,))`` for ``n`` tokens trained on ``n0``.

        ``axis`` (0, 1, 2 for t, h, w) picks the entry of a per-axis ``factor`` or ``riflex_k``
        (``riflex_rule="reference"`` changes axis 0 only). The linspace-crop strategies spread the
        ``n`` points over the whole ``[0, n0)`` (one axis has no aspect ratio to crop to).

        >>> positions, freqs = Strategy("interpolate").axis(4, 2, 8)
        >>> positions.tolist(), freqs.shape
        ([0.0, 0.5, 1.0, 1.5], torch.Size([4]))
        """
        n, n0 = check_size("n", n), check_size("n0", n0)
        dim, theta = check_even_dim("dim", dim), check_factor("theta", theta)
        if axis not in (0, 1, 2) or isinstance(axis, bool):
            raise ValueError(f"axis must be 0, 1 or 2 (t, h, w), got {axis!r}")
        self._check_not_resample()
        if self.name in _CROP:
            fn = diffusers_linspace_positions if self.name.endswith("diffusers") else linspace_positions
            return fn(0, n0, n, dtype=torch.float64), rope_frequencies(dim, theta)
        s = self.factor[axis] if self.factor is not None else n / n0
        if self.riflex_k[axis] is not None:
            check_pair_index(f"riflex_k[{axis}] ({_AXES[axis]})", self.riflex_k[axis], dim)
        return self._positions(n, s, axis), self._frequencies(n0, s, dim, theta, axis)

    # The rule "an axis with s <= 1 keeps arange(n) and θ_j" is these two methods' first line.

    def _positions(self, n: int, s: float, axis: int) -> torch.Tensor:
        """Positions ``(n,)`` float64 of axis ``axis`` (0, 1, 2: t, h, w) at scale ``s``."""
        if self.name == "scale-shift":  # the user's map, at every size
            return self.position_shift[axis] + self.position_scale[axis] * arange_positions(n)
        if s <= 1 or self.name != "interpolate":
            return arange_positions(n)
        return divided_positions(n, s)

    def _frequencies(self, n0: int, s: float, d: int, theta: float, axis: int) -> torch.Tensor:
        """Frequencies ``(d/2,)`` float64 of axis ``axis`` (0, 1, 2: t, h, w) of ``d`` channels trained on
        ``n0`` tokens, at scale ``s``."""
        if s <= 1 or self.name in ("extrapolate", "interpolate", "scale-shift"):
            return rope_frequencies(d, theta)
        if self.name == "ntk":
            return ntk_frequencies(d, s, theta)
        if self.name == "yarn":
            return yarn_frequencies(d, n0, s, theta, alpha=self.yarn_alpha, beta=self.yarn_beta)
        return self._riflex(n0, s, d, theta, axis)

    def _riflex(self, n0: int, s: float, d: int, theta: float, axis: int) -> torch.Tensor:
        """RIFLEx's frequencies ``(d/2,)`` float64 of one axis under ``riflex_rule`` (chapter 6, section 6.1)."""
        k = self.riflex_k[axis]
        margin = RIFLEX_RULES[self.riflex_rule] if self.riflex_margin is None else self.riflex_margin
        if self.riflex_rule == "cogpe":
            return riflex_frequencies(d, n0, s, theta, k=k, margin=margin)
        if axis != 0:  # the reference rule changes the time axis only
            return rope_frequencies(d, theta)
        if self.riflex_repetition_frame is not None:
            k = repetition_component(d, self.riflex_repetition_frame, theta)
        return riflex_reference_frequencies(d, n0, s, theta, k=k, margin=margin)

    def token_axes(self, grid, base_grid, freqs: Sequence[torch.Tensor]) -> Axes:
        """Per-axis ``(positions (n,), frequencies (K,))`` float64 for a model turning pair j of axis i by
        ``freqs[i][j]`` radians per token (any order; :mod:`cogpe.scaling`'s ``*_per_token`` rules), such as a
        model whose positions are not token indices (``cogpe.adapters.allegro``, ``ltx``, ``cosmos``).
        ``riflex_k`` indexes ``freqs[i]``; the crop strategies, made for CogVideoX's grid, are refused."""
        grid, base_grid = check_grid("grid", grid, 3), check_grid("base_grid", base_grid, 3)
        self._check_not_resample()
        if self.name in _CROP:
            raise ValueError(f"strategy {self.name!r} spreads positions over CogVideoX's crop region; it has no "
                             f"per-token form (valid: {', '.join(PER_TOKEN)})")
        out = []
        for i, (n, n0, s, f) in enumerate(zip(grid, base_grid, self.scales(grid, base_grid), freqs)):
            f, k, margin = torch.as_tensor(f, dtype=torch.float64), self.riflex_k[i], self.riflex_margin
            if s <= 1 or self.name in ("extrapolate", "interpolate", "scale-shift"):
                pass  # the rule "s <= 1 keeps m and θ_j" (module docstring)
            elif self.name == "ntk":
                f = ntk_per_token(f, s)
            elif self.name == "yarn":
                f = yarn_per_token(f, n0, s, alpha=self.yarn_alpha, beta=self.yarn_beta)
            elif self.riflex_rule == "cogpe":
                f = riflex_per_token(f, n0, s, k=k, margin=RIFLEX_RULES["cogpe"] if margin is None else margin)
            elif i == 0:  # the reference rule: time only
                k = k if self.riflex_repetition_frame is None else repetition_pair(f, self.riflex_repetition_frame)
                f = riflex_reference_per_token(f, n0, s, k=k, margin=RIFLEX_RULES["reference"] if margin is None else margin)
            out.append((self._positions(n, s, i), f))
        return out[0], out[1], out[2]

    def _check_not_resample(self) -> None:
        if self.name == "resample":
            raise ValueError(
                "strategy 'resample' resamples a learned table (cogpe.resample); it has no positions or "
                f"frequencies to give a sincos or RoPE encoder; valid for RoPE: {', '.join(ENCODINGS['rope'])}"
            )

    def positions(self, grid, base_grid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-axis positions ``(T,), (H,), (W,)`` float64 for an encoder with fixed frequencies (sincos).

        ValueError for strategies a sincos table cannot use (:data:`ENCODINGS`).
        """
        check_encoding("sincos", self)
        grid, base_grid = check_grid("grid", grid, 3), check_grid("base_grid", base_grid, 3)
        t, h, w = (self._positions(n, s, i) for i, (n, s) in enumerate(zip(grid, self.scales(grid, base_grid))))
        return t, h, w

    def attention(self, grid, base_grid) -> float:
        """YaRN's temperature of the largest scale, else 1.0: the factor on cos and sin (chapter 6, 6.4 (e))."""
        if self.name != "yarn":
            return 1.0
        if self.attention_factor is not None:
            return self.attention_factor
        grid, base_grid = check_grid("grid", grid, 3), check_grid("base_grid", base_grid, 3)
        return yarn_attention_factor(max(self.scales(grid, base_grid)))

    def without_temperature(self) -> "Strategy":
        """The same frequencies with YaRN's temperature off (``attention_factor=1``); ``self`` if it has none."""
        return replace(self, attention_factor=1.0) if self.name == "yarn" else self

    def rope_tables(
        self, grid, base_grid, split: Sequence[int], theta: float = 10000.0, *, dtype: torch.dtype = torch.float32, device=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """3-D RoPE ``(cos, sin)``, each ``(T*H*W, sum(split))``: :meth:`axes` through :func:`cogpe.rope.rope_3d`,
        times :meth:`attention` where it is not 1. Angles in float64, tables in ``dtype`` on ``device``."""
        axes = self.axes(grid, base_grid, split, theta)
        positions = [p.to(device) for p, _ in axes]  # (T,), (H,), (W,)
        freqs = [f.to(device) for _, f in axes]  # (dt/2,), (dh/2,), (dw/2,)
        cos, sin = rope_3d(sum(split), positions=positions, freqs=freqs, split=split, dtype=dtype, device=device)
        factor = self.attention(grid, base_grid)
        if factor != 1.0:
            cos, sin = cos * factor, sin * factor
        return cos, sin

    def sincos_table(
        self, dim: int, grid, base_grid, theta: float = 10000.0, *, dtype: torch.dtype = torch.float32, device=None
    ) -> torch.Tensor:
        """CogVideoX-2B's sincos table ``(T*H*W, dim)`` on :meth:`positions` (:func:`cogpe.sincos.sincos_3d`)."""
        positions = [p.to(device) for p in self.positions(grid, base_grid)]  # (T,), (H,), (W,)
        return sincos_3d(dim, positions=positions, theta=theta, dtype=dtype, device=device)

    def check_split(self, split: Sequence[int]) -> None:
        """ValueError where ``riflex_k`` names a pair an axis of ``split`` does not have."""
        for i, (k, d) in enumerate(zip(self.riflex_k, split)):
            if k is not None:
                check_pair_index(f"riflex_k[{i}] ({_AXES[i]})", k, d)


_OPTION_FIELDS = tuple(f for f in fields(Strategy) if f.name != "name")
_OPTION_NAMES = {name: tuple(opts) for name, opts in STRATEGY_OPTIONS.items()}


def _options_by_strategy() -> str:
    return "options by strategy: " + "; ".join(f"{k!r}: {', '.join(v)}" for k, v in STRATEGY_OPTIONS.items())


def _crop_axes(name: str, grid, base_grid, split, theta: float) -> Axes:
    """diffusers' CogVideoX 1.0 positions: t ``arange(T)``, h and w spread over the crop region."""
    (top, left), (bottom, right) = crop_region(grid[1:], base_grid[1:])
    if bottom == top or right == left:
        raise ValueError(
            f"{name} cannot fit grid (H, W)={grid[1:]} into base_grid (H0, W0)={base_grid[1:]}: "
            f"its aspect ratio rounds the crop region (({top}, {left}), ({bottom}, {right})) to zero "
            "size; use a larger base_grid or a less elongated grid"
        )
    convention = "diffusers" if name.endswith("diffusers") else "numpy"
    h, w = crop_positions(grid[1:], base_grid[1:], convention=convention)  # (H,), (W,)
    positions = (arange_positions(grid[0]), h.to(torch.float64), w.to(torch.float64))
    t_axis, h_axis, w_axis = ((p, rope_frequencies(d, theta)) for p, d in zip(positions, split))
    return t_axis, h_axis, w_axis


# --- reading a strategy from a name, an object or a rope_scaling dict -----------------------------------


def as_strategy(strategy: StrategyLike = "extrapolate", **options) -> Strategy:
    """A :class:`Strategy` from a name and options, a ``rope_scaling`` dict, or a Strategy (returned as is).

    >>> as_strategy("riflex", riflex_k=1)
    Strategy('riflex', riflex_k=(1, 1, 1))
    >>> as_strategy({"rope_type": "linear", "factor": 2.0})
    Strategy('interpolate', factor=(2.0, 2.0, 2.0))
    """
    if isinstance(strategy, Strategy):
        if options:
            raise TypeError(f"options {sorted(options)} given with a Strategy object; put them in the Strategy")
        return strategy
    if isinstance(strategy, Mapping):
        if options:
            raise TypeError(f"options {sorted(options)} given with a rope_scaling dict; put them in the dict")
        return from_rope_scaling(strategy)
    name = check_choice("strategy", strategy, STRATEGIES)
    valid: Mapping[str, Any] = STRATEGY_OPTIONS.get(name, {})
    unknown = sorted(set(options) - set(valid))
    if unknown:
        given = ", ".join(f"{k}={options[k]!r}" for k in unknown)
        raise TypeError(f"strategy {name!r} takes no option {given}; {_options_by_strategy()}")
    return Strategy(name, **options)


#: transformers' ``rope_type`` names and the strategy each maps to; our own names are accepted too.
ROPE_TYPES = MappingProxyType({"default": "extrapolate", "linear": "interpolate", "dynamic": "ntk", "yarn": "yarn"})
# transformers' keys -> our options (every rope_type also takes our own option names)
_ROPE_KEYS = MappingProxyType({"beta_fast": "yarn_beta", "beta_slow": "yarn_alpha"})


def from_rope_scaling(config: Mapping[str, Any]) -> Strategy:
    """The :class:`Strategy` of a transformers-style ``rope_scaling`` dict (chapter 6, section 6.6).

    ``rope_type`` (or the older ``type``) is one of :data:`ROPE_TYPES` (``default``, ``linear``,
    ``dynamic``, ``yarn``) or a name of :data:`STRATEGIES`; ``factor`` may be one number or one per axis
    (T, H, W) — our extension; YaRN's ``beta_fast`` / ``beta_slow`` are our ``yarn_beta`` / ``yarn_alpha``
    (turns in the training window), ``attention_factor`` the factor on cos and sin. ``dynamic`` is NTK
    at the scale of each grid, which is transformers' dynamic NTK at ``factor`` 1; a fixed NTK scale
    is ``{"rope_type": "ntk", "factor": s}``. ``riflex`` also reads the video wrappers'
    ``riflex_freq_index``: the time axis' pair counted from 1, as in zhao2025riflex's code, so
    ``riflex_k = riflex_freq_index - 1``, under ``riflex_rule="reference"`` unless the dict names a
    rule (the wrappers' 0, "off", is ``{"rope_type": "default"}``). An unknown type or key is refused,
    naming the valid ones.

    >>> from_rope_scaling({"rope_type": "yarn", "factor": (1, 2, 2), "beta_fast": 8})
    Strategy('yarn', factor=(1.0, 2.0, 2.0), yarn_beta=8.0)
    >>> from_rope_scaling({"rope_type": "riflex", "riflex_freq_index": 2})
    Strategy('riflex', riflex_k=(1, None, None), riflex_rule='reference')
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"rope_scaling must be a dict, got {type(config).__name__}")
    config = dict(config)
    if "rope_type" in config and "type" in config and config["rope_type"] != config["type"]:
        raise ValueError(f"rope_scaling has rope_type={config['rope_type']!r} and type={config['type']!r}; give one")
    rope_type = config.pop("rope_type", config.pop("type", None))
    config.pop("type", None)
    if rope_type is None:
        raise ValueError(f"rope_scaling needs 'rope_type': one of {', '.join(map(repr, _rope_type_names()))}")
    name = ROPE_TYPES.get(rope_type, rope_type) if isinstance(rope_type, str) else rope_type
    if name not in STRATEGIES:
        raise ValueError(f"unknown rope_type {rope_type!r}; valid: {', '.join(map(repr, _rope_type_names()))}")
    if rope_type == "dynamic" and config.get("factor", 1.0) not in (1, 1.0):
        raise ValueError(
            f"rope_type 'dynamic' takes the scale from each grid (s = n/n0, transformers' dynamic NTK at "
            f"factor 1), got factor={config['factor']!r}; for a fixed NTK scale use "
            "{'rope_type': 'ntk', 'factor': ...}"
        )
    if rope_type == "dynamic":
        config.pop("factor", None)
    valid = {**{k: v for k, v in _ROPE_KEYS.items() if v in STRATEGY_OPTIONS.get(name, {})},
             **{k: k for k in STRATEGY_OPTIONS.get(name, {})}}
    if name == "riflex":
        valid["riflex_freq_index"] = "riflex_freq_index"
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(
            f"rope_scaling key {', '.join(map(repr, unknown))} is not valid for rope_type {rope_type!r}; "
            f"valid keys: 'rope_type'{''.join(f', {k!r}' for k in sorted(valid))}"
        )
    if "riflex_freq_index" in config:
        _read_freq_index(config)
    options = {valid[k]: v for k, v in config.items()}
    return Strategy(name, **options)


def _read_freq_index(config: dict[str, Any]) -> None:
    """The wrappers' 1-based ``riflex_freq_index`` of a ``riflex`` dict as ``riflex_k`` (0-based) and the
    reference rule, in place (zhao2025riflex's code counts k from 1)."""
    index = config.pop("riflex_freq_index")
    if "riflex_k" in config:
        raise ValueError(
            f"rope_scaling has riflex_freq_index={index!r} and riflex_k={config['riflex_k']!r}; give one "
            "(riflex_k = riflex_freq_index - 1: the index counts pairs from 1)"
        )
    if isinstance(index, numbers.Integral) and not isinstance(index, bool) and index == 0:
        raise ValueError(
            "riflex_freq_index=0 switches RIFLEx off in the video wrappers; for no RIFLEx use "
            "{'rope_type': 'default'}, else give the time axis' pair counted from 1 (>= 1)"
        )
    config["riflex_k"] = check_size("riflex_freq_index", index, what="the time axis' pair counted from 1") - 1
    config.setdefault("riflex_rule", "reference")


def _rope_type_names() -> list[str]:
    return list(dict.fromkeys([*ROPE_TYPES, *STRATEGIES]))  # 'yarn' is both


def parse_model_strategy(name: str) -> tuple[str, Strategy]:
    """``"<encoding>-<strategy>"`` (one of :data:`MODEL_STRATEGIES`) -> ``(encoding, Strategy)``.

    >>> parse_model_strategy("rope-yarn")
    ('rope', Strategy('yarn'))
    """
    check_choice("strategy", name, MODEL_STRATEGIES)
    encoding, strategy = name.split("-", 1)
    return encoding, Strategy(strategy)


def check_encoding(encoding: str, strategy: Strategy) -> Strategy:
    """``strategy`` if ``encoding`` can use it, else a ValueError naming the strategies it can."""
    if strategy.name not in ENCODINGS[encoding]:
        raise ValueError(
            f"strategy {strategy.name!r} cannot be applied to a {encoding} encoding; "
            f"valid for {encoding}: {', '.join(map(repr, ENCODINGS[encoding]))}"
            + (" (it changes RoPE frequencies, which a sincos table does not have)" if encoding == "sincos" else "")
        )
    return strategy
