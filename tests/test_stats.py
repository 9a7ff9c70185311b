"""The lab's statistics against literal references: sign-flip enumeration, bootstrap resampling, Holm."""

import itertools

import numpy as np
import pytest

from cogpe.stats import bootstrap_interval, compare, holm, sign_flip_p, smallest_p


def literal_sign_flip(d, alternative):
    observed = sum(d) / len(d)
    hits = total = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        m = sum(s * x for s, x in zip(signs, d)) / len(d)
        total += 1
        hits += {"less": m <= observed + 1e-12, "greater": m >= observed - 1e-12,
                 "two-sided": abs(m) >= abs(observed) - 1e-12}[alternative]
    return hits / total


@pytest.mark.parametrize("n", [2, 3, 5, 8, 10])
@pytest.mark.parametrize("alternative", ["less", "greater", "two-sided"])
def test_sign_flip_is_the_exact_enumeration(n, alternative):
    rng = np.random.default_rng(n)
    for _ in range(5):
        d = rng.normal(0.3, 1.0, n)
        assert sign_flip_p(d, alternative) == pytest.approx(literal_sign_flip(d, alternative))


def test_sign_flip_counts_ties_and_hits_its_floor():
    assert sign_flip_p([1.0, -1.0, 1.0, -1.0], "two-sided") == 1.0
    assert sign_flip_p([-0.1] * 10, "less") == smallest_p(10) == 1 / 1024
    assert sign_flip_p([0.1] * 10, "two-sided") == smallest_p(10, "two-sided")


def test_monte_carlo_beyond_sixteen_pairs_is_close_to_exact():
    d = np.random.default_rng(0).normal(0.25, 1.0, 17)
    exact = literal_sign_flip(list(d), "greater")
    assert sign_flip_p(d, "greater", samples=40000) == pytest.approx(exact, abs=0.01)


def test_the_test_keeps_its_level_under_the_null():
    rng = np.random.default_rng(1)
    rejections = [sign_flip_p(rng.normal(0, 1, 10), "less") <= 0.05 for _ in range(400)]
    assert np.mean(rejections) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 400)


def test_bootstrap_is_literal_resampling_with_the_same_generator():
    d = np.random.default_rng(2).normal(0, 1, 10)
    rng = np.random.default_rng(7)
    means = [d[rng.integers(0, 10, size=10)].mean() for _ in range(2000)]
    literal = np.quantile(means, [0.05, 0.95])
    assert bootstrap_interval(d, level=0.9, resamples=2000, seed=7) == pytest.approx(tuple(literal), abs=0.05)


def test_bootstrap_covers_the_mean_at_about_its_level():
    rng = np.random.default_rng(3)
    inside = [lo <= 0.0 <= hi for lo, hi in (bootstrap_interval(rng.normal(0, 1, 10), resamples=2000) for _ in range(200))]
    assert 0.82 <= np.mean(inside) <= 1.0  # percentile intervals undercover slightly at n = 10


def literal_holm(p, alpha):
    order = sorted(range(len(p)), key=lambda i: p[i])
    reject = [False] * len(p)
    for k, i in enumerate(order):
        if p[i] > alpha / (len(p) - k):
            break
        reject[i] = True
    return reject


def test_holm_is_the_step_down_procedure():
    rng = np.random.default_rng(4)
    for m in (1, 2, 5, 12, 30):
        for _ in range(20):
            p = list(rng.uniform(0, 0.1, m) ** 2)
            adjusted, reject = holm(p, 0.05)
            assert reject == literal_holm(p, 0.05)
            assert all(a >= q for a, q in zip(adjusted, p)) and max(adjusted) <= 1


def test_compare_corrects_over_the_family():
    rng = np.random.default_rng(5)
    a = rng.normal(0, 0.01, 10)
    strong = (a - 0.05, a, "less")
    weak = (a - 0.0005 + rng.normal(0, 0.01, 10), a, "less")
    claims = compare({"strong": strong, "weak": weak})
    assert [c.holds for c in claims] == [True, False]
    assert claims[0].p == 1 / 1024 and claims[0].p_holm == 2 / 1024
    lo, hi = claims[0].interval
    assert lo <= claims[0].mean <= hi < 0 and claims[0].n == 10


@pytest.mark.parametrize("call, error, match", [
    (lambda: sign_flip_p([1.0], "less"), ValueError, "at least 2"),
    (lambda: sign_flip_p([1.0, float("nan")]), ValueError, "finite"),
    (lambda: sign_flip_p(["a", "b"]), TypeError, "sequence of numbers"),
    (lambda: sign_flip_p([1.0, 2.0], "smaller"), ValueError, "alternative"),
    (lambda: bootstrap_interval([1.0, 2.0], level=95), ValueError, "level"),
    (lambda: holm([0.5, 1.5]), ValueError, "probabilities"),
    (lambda: holm([0.5], alpha=0), ValueError, "alpha"),
    (lambda: compare({}), ValueError, "non-empty"),
    (lambda: compare({"x": ([1, 2], [1, 2, 3], "less")}), ValueError, "paired"),
    (lambda: compare({"x": ([1, 2], [1, 2])}), TypeError, r"\(a, b, alternative\)"),
    (lambda: compare({"x": ([1, 2], [1, 2], "lower")}), ValueError, "alternative of claim 'x'"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
