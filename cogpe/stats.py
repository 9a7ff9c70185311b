"""Statistics the lab's claims must survive (chapter 7): paired differences over seeds, bootstrap
intervals, exact sign-flip tests and Holm–Bonferroni over every comparison a chapter asserts.

Two strategies trained with the same seeds form pairs: seed ``i`` fixes the initialisation, the data
order and the noise draws of both runs, so the difference ``d_i = a_i − b_i`` removes what the seed
alone does. For ``n`` such pairs:

- the **mean difference** and its **percentile bootstrap interval** (resampling the ``n`` differences
  with replacement, :func:`bootstrap_interval`; Efron & Tibshirani 1993);
- an exact **sign-flip (randomisation) test** of "no difference": under the null each ``d_i`` is as
  likely to be ``−d_i``, so the p-value is the share of the ``2ⁿ`` sign patterns whose mean is at least
  as extreme as the observed one (:func:`sign_flip_p`; all patterns up to ``n = 16``, a seeded Monte
  Carlo sample beyond). With 10 seeds the smallest one-sided p is ``1/1024``, the smallest two-sided
  ``2/1024``;
- **Holm's step-down correction** (Holm 1979) over the family of comparisons a chapter asserts
  (:func:`holm`): the ``k``-th smallest of ``m`` p-values is compared with ``α/(m − k + 1)``, which
  bounds the chance of *any* false claim by ``α``.

:func:`compare` puts the three together and says which claims hold. A claim names its direction before
the data are seen (``"less"``: ``a`` below ``b``, e.g. a lower loss), so its test is one-sided.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ._checks import check_choice, check_probability, check_size

__all__ = ["ALTERNATIVES", "Claim", "bootstrap_interval", "compare", "holm", "sign_flip_p", "smallest_p"]

#: What a comparison claims of ``a − b``: below zero, above zero, or different from zero.
ALTERNATIVES = ("less", "greater", "two-sided")
_EXACT_UP_TO = 16  # 2**16 sign patterns: exact; beyond, a Monte Carlo sample of patterns


def _values(name: str, values: object) -> np.ndarray:
    """``values`` as float64 ``(n,)``, n ≥ 2, all finite."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if array.ndim != 1 or array.size < 2:
        raise ValueError(f"{name} must be 1-D with at least 2 paired values, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    return array


def _differences(name: str, a: object, b: object) -> np.ndarray:
    """``a − b`` as float64 ``(n,)`` from two equally long 1-D sequences of finite numbers."""
    a, b = _values(f"{name}: a", a), _values(f"{name}: b", b)
    if a.shape != b.shape:
        raise ValueError(f"{name}: a and b must be paired (same length), got {a.size} and {b.size}")
    return a - b


def bootstrap_interval(
    differences: Sequence[float] | np.ndarray, *, level: float = 0.95, resamples: int = 10000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``differences (n,)``: ``(low, high)``.

    ``resamples`` means of ``n`` differences drawn with replacement (numpy generator seeded by ``seed``);
    the interval holds the central ``level`` of them. For small ``n`` it is slightly too narrow (the
    percentile method's known bias); the chapter's decisions rest on :func:`sign_flip_p`.

    >>> low, high = bootstrap_interval([0.1, 0.2, 0.15, 0.12, 0.18])
    >>> bool(0.1 < low < 0.15 < high < 0.2)
    True
    """
    d = _values("differences", differences)
    level, resamples = check_probability("level", level), check_size("resamples", resamples, what="resamples")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)  # (resamples,)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def _sign_patterns(n: int, samples: int, seed: int) -> np.ndarray:
    """Sign patterns ``(P, n)`` of ±1: all ``2ⁿ`` up to n = 16, else ``samples`` random ones plus the identity."""
    if n <= _EXACT_UP_TO:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    rng = np.random.default_rng(seed)
    random = rng.choice((1.0, -1.0), size=(samples, n))
    return np.vstack([np.ones((1, n)), random])


def sign_flip_p(
    differences: Sequence[float] | np.ndarray, alternative: str = "two-sided", *, samples: int = 20000, seed: int = 0
) -> float:
    """p-value of the paired sign-flip test that the mean of ``differences (n,)`` is zero.

    ``alternative``: ``"less"`` (the claim is a mean below zero), ``"greater"``, or ``"two-sided"``.
    Exact over all ``2ⁿ`` sign patterns for ``n ≤ 16``; beyond, ``samples`` random patterns plus the
    observed one (so p is never 0).

    >>> sign_flip_p([-1.0] * 10, "less") == 1 / 1024
    True
    """
    d = _values("differences", differences)
    alternative = check_choice("alternative", alternative, ALTERNATIVES)
    means = _sign_patterns(d.size, check_size("samples", samples, what="patterns"), seed) @ d / d.size  # (P,)
    observed = d.mean()
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))  # ties of floating-point sums count as "as extreme"
    if alternative == "less":
        extreme = means <= observed + tol
    elif alternative == "greater":
        extreme = means >= observed - tol
    else:
        extreme = np.abs(means) >= abs(observed) - tol
    return float(extreme.mean())


def holm(p_values: Sequence[float], alpha: float = 0.05) -> tuple[list[float], list[bool]]:
    """Holm's step-down correction of ``p_values (m,)``: adjusted p-values and which hypotheses are rejected.

    Adjusted ``p̃_(k) = max_{j ≤ k} min(1, (m − j + 1)·p_(j))`` in the sorted order; a hypothesis is
    rejected when ``p̃ ≤ alpha``. The family-wise error rate is at most ``alpha`` (Holm 1979).

    >>> holm([0.01, 0.04, 0.03])
    ([0.03, 0.06, 0.06], [True, False, False])
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not ((p >= 0) & (p <= 1)).all():
        raise ValueError(f"p_values must be a non-empty 1-D sequence of probabilities in [0, 1], got {p_values!r}")
    alpha = check_probability("alpha", alpha)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted_sorted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    values = [float(v) for v in adjusted]
    return values, [v <= alpha for v in values]


@dataclass(frozen=True)
class Claim:
    """One asserted comparison of ``a − b`` over ``n`` paired seeds, after :func:`compare`.

    ``mean`` and ``interval`` (the bootstrap ``level`` interval) are of the differences; ``p`` is the
    one-sided (or two-sided) sign-flip p-value, ``p_holm`` it after Holm's correction over the family,
    and ``holds`` whether the claim survives (``p_holm ≤ alpha``).
    """

    name: str
    alternative: str
    n: int
    mean: float
    interval: tuple[float, float]
    p: float
    p_holm: float
    holds: bool


def compare(
    claims: Mapping[str, tuple[Sequence[float], Sequence[float], str]], *, alpha: float = 0.05, level: float = 0.95,
    seed: int = 0,
) -> list[Claim]:
    """Test every claim ``name -> (a (n,), b (n,), alternative)`` and correct them together (Holm).

    ``a`` and ``b`` are paired by position (seed ``i`` of both runs). Returns one :class:`Claim` per
    entry, in order.

    >>> lower = ([0.50, 0.48, 0.52, 0.47, 0.49, 0.51, 0.46, 0.50, 0.48, 0.47],
    ...          [0.55, 0.53, 0.56, 0.52, 0.55, 0.54, 0.53, 0.56, 0.52, 0.54], "less")
    >>> noise = ([0.5, 0.6, 0.4, 0.5, 0.6, 0.4, 0.5, 0.6, 0.4, 0.5],
    ...          [0.6, 0.5, 0.5, 0.4, 0.5, 0.5, 0.6, 0.5, 0.4, 0.5], "less")
    >>> [(c.name, c.holds) for c in compare({"ntk beats pi": lower, "pi beats ntk": noise})]
    [('ntk beats pi', True), ('pi beats ntk', False)]
    """
    if not isinstance(claims, Mapping) or not claims:
        raise ValueError(f"claims must be a non-empty mapping name -> (a, b, alternative), got {claims!r}")
    rows = []
    for name, claim in claims.items():
        if not isinstance(claim, (tuple, list)) or len(claim) != 3:
            raise TypeError(f"claim {name!r} must be (a, b, alternative), got {claim!r}")
        a, b, alternative = claim
        d = _differences(f"claim {name!r}", a, b)
        alternative = check_choice(f"alternative of claim {name!r}", alternative, ALTERNATIVES)
        rows.append((name, alternative, d, sign_flip_p(d, alternative, seed=seed)))
    adjusted, holds = holm([p for *_, p in rows], alpha)
    return [
        Claim(name, alternative, d.size, float(d.mean()), bootstrap_interval(d, level=level, seed=seed), p, q, h)
        for (name, alternative, d, p), q, h in zip(rows, adjusted, holds)
    ]


def smallest_p(n: int, alternative: str = "less") -> float:
    """The smallest p-value of the exact sign-flip test with ``n`` pairs: ``1/2ⁿ`` one-sided, ``2/2ⁿ`` two-sided.

    A family of ``m`` claims can only hold under Holm if this is at most ``alpha/m``: 10 seeds allow
    up to 51 one-sided claims at ``alpha = 0.05``.

    >>> smallest_p(10), smallest_p(10, "two-sided")
    (0.0009765625, 0.001953125)
    """
    n = check_size("n", n, what="pairs")
    alternative = check_choice("alternative", alternative, ALTERNATIVES)
    return (1 if alternative != "two-sided" else 2) / 2**n
