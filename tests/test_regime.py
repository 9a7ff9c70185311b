"""The regime table: complete pairs, intrinsic pair and period per axis, against a literal loop."""

import math

import pytest

from cogpe.adapters.presets import BASE_GRIDS
from cogpe.regime import REFERENCE_REGIMES, axis_regime, grid_regime, regime_table
from cogpe.scaling import intrinsic_component


def literal(dim, n0, theta):
    """Pair by pair: complete when the trained arc (n0 - 1)·θ_j reaches a full turn."""
    freqs = [theta ** (-2 * j / dim) for j in range(dim // 2)]
    complete = [(n0 - 1) * f >= 2 * math.pi for f in freqs]
    first = complete.index(False) if False in complete else None
    return sum(complete), first, None if first is None else 2 * math.pi / freqs[first]


@pytest.mark.parametrize("dim", [2, 8, 12, 16, 24, 42, 44, 56])
@pytest.mark.parametrize("n0", [1, 2, 4, 7, 13, 30, 45, 80, 400])
@pytest.mark.parametrize("theta", [256.0, 10000.0])
def test_axis_regime_matches_a_literal_loop(dim, n0, theta):
    r = axis_regime(dim, n0, theta)
    complete, first, period = literal(dim, n0, theta)
    assert (r.complete, r.incomplete, r.intrinsic) == (complete, dim // 2 - complete, first)
    assert r.period == pytest.approx(period) if period is not None else r.period is None
    if first is not None and theta == 10000.0 and n0 > 1:
        assert r.intrinsic == intrinsic_component(dim, n0, theta)


def test_cogvideox_5b_counts_and_the_probe_turns():
    t, h, w = grid_regime((16, 24, 24), (13, 30, 45), probe_grid=(25, 30, 45))
    assert (t.complete, h.complete, w.complete) == (1, 2, 3)
    assert t.period == pytest.approx(2 * math.pi * 10000 ** (2 / 16))
    assert t.probe_turns == pytest.approx(24 / t.period) and t.beyond_period
    assert not w.beyond_period and w.probe_turns < 1


def test_the_trained_length_never_completes_the_intrinsic_pair():
    for dim in (8, 16, 24, 44, 56):
        for n0 in range(1, 200, 7):
            r = axis_regime(dim, n0, probe=n0)
            assert r.period is None or not r.beyond_period


def test_reference_regimes_are_the_presets_training_grids():
    presets = {"CogVideoX-5B": "cogvideox-5b", "CogVideoX1.5-5B": "cogvideox1.5-5b",
               "Wan2.1-14B-720p": "wan-720p", "HunyuanVideo": "hunyuanvideo-720p"}
    for name, reference in REFERENCE_REGIMES.items():
        assert reference.base_grid in BASE_GRIDS[presets[name]].grids, name
    d = 128  # Wan's head: t = d - 4⌊d/6⌋, h = w = 2⌊d/6⌋
    assert REFERENCE_REGIMES["Wan2.1-14B-720p"].split == (d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6))


def test_table_lists_every_axis_and_marks_completed_turns():
    rows = {n: grid_regime(r.split, r.base_grid, r.theta) for n, r in REFERENCE_REGIMES.items()}
    rows["probe"] = grid_regime((16, 24, 24), (8, 4, 4), probe_grid=(16, 8, 8))
    text = regime_table(rows).splitlines()
    assert len(text) == 1 + 3 * len(rows)
    assert text[-1].split()[-1] == "1.11*" and text[-3].split()[-1] == "0.75"
    assert "256" in next(line for line in text if line.startswith("HunyuanVideo"))


@pytest.mark.parametrize("call, match", [
    (lambda: axis_regime(15, 4), "dim must be even"),
    (lambda: axis_regime(16, 0), "n0"),
    (lambda: axis_regime(16, 4, theta=-1.0), "theta"),
    (lambda: axis_regime(16, 4, probe=0), "probe"),
    (lambda: grid_regime((16, 23, 25), (4, 4, 4)), "even number of channels"),
    (lambda: grid_regime((16, 24, 24), (4, 4)), "base_grid"),
    (lambda: grid_regime((16, 24, 24), (4, 4, 4), probe_grid=(4, 4, 0)), "probe_grid"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
