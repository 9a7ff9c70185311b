"""cogpe.strategy: one vocabulary — a name plus options, validated once — for sincos, RoPE and learned
tables, the lab model's ``<encoding>-<strategy>`` names and transformers-style ``rope_scaling`` dicts."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cogpe.strategy as strategy_module
from cogpe import rope_3d, sincos_3d
from cogpe.grids import diffusers_linspace_positions, linspace_positions
from cogpe.model import ModelConfig, VideoDiT
from cogpe.rope import rope_frequencies
from cogpe.scaling import riflex_frequencies, riflex_reference_frequencies, yarn_attention_factor
from cogpe.strategy import (
    ENCODINGS,
    MODEL_STRATEGIES,
    RIFLEX_RULES,
    ROPE_TYPES,
    STRATEGIES,
    STRATEGY_OPTIONS,
    Strategy,
    as_strategy,
    from_rope_scaling,
    parse_model_strategy,
)
from cogpe.strategy_tables import scaled_axes, scaled_rope_3d, scaled_sincos_3d

FAST = settings(max_examples=40, deadline=None)
f64 = dict(dtype=torch.float64)


def grids(lo: int = 1, hi: int = 9):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi), st.integers(lo, hi))


def same_tables(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


# --- the vocabulary ------------------------------------------------------------------------------------


def test_one_list_of_names_and_what_each_encoding_takes():
    assert STRATEGIES == ("extrapolate", "interpolate", "ntk", "yarn", "riflex", "linspace-crop",
                          "linspace-crop-diffusers", "scale-shift", "resample")
    assert set().union(*ENCODINGS.values()) == set(STRATEGIES)
    assert ENCODINGS["sincos"] == ("extrapolate", "interpolate") and ENCODINGS["learned"] == ("resample",)
    assert set(STRATEGY_OPTIONS) <= set(STRATEGIES)


def test_model_names_parse_into_encoding_and_strategy():
    assert MODEL_STRATEGIES == ("sincos-extrapolate", "sincos-interpolate", "rope-extrapolate", "rope-interpolate",
                                "rope-ntk", "rope-yarn", "rope-riflex", "learned-resample")
    for name in MODEL_STRATEGIES:
        encoding, strategy = parse_model_strategy(name)
        assert f"{encoding}-{strategy.name}" == name and strategy.name in ENCODINGS[encoding]
    with pytest.raises(ValueError, match=r"unknown strategy 'rope-pi'; valid: 'sincos-extrapolate'"):
        parse_model_strategy("rope-pi")


def test_scale_shift_maps_positions_to_shift_plus_scale_times_the_index():
    """ComfyUI's ScaleROPE: per axis ``linspace(shift, shift + (n-1)·scale, n)`` at every size, θ unchanged."""
    grid, base = (5, 7, 9), (5, 4, 4)
    plain = Strategy("extrapolate").axes(grid, base, (8, 12, 12))
    for (p, f), (q, g) in zip(Strategy("scale-shift").axes(grid, base, (8, 12, 12)), plain):  # defaults: identity
        assert torch.equal(p, q) and torch.equal(f, g)
    chosen = Strategy("scale-shift", position_scale=(1.0, 0.5, 2.0), position_shift=(3.0, -1.0, 0.25))
    for i, ((p, f), (_, g)) in enumerate(zip(chosen.axes(grid, base, (8, 12, 12)), plain)):
        n, scale, shift = grid[i], chosen.position_scale[i], chosen.position_shift[i]
        expected = [shift + (n - 1) * scale * m / (n - 1) for m in range(n)]  # the linspace, literally
        assert p.tolist() == pytest.approx(expected, abs=1e-12) and torch.equal(f, g)
    # smaller grids too (no s <= 1 rule)
    small = chosen.axis(3, 8, 12, axis=1)[0]
    assert small.tolist() == [-1.0, -0.5, 0.0]
    assert [p.tolist() for p, _ in chosen.axes((2, 2, 2), base, (8, 12, 12))] == [[3.0, 4.0], [-1.0, -0.5], [0.25, 2.25]]
    # index division by s is scale 1/s: position interpolation
    split, grid2, base2 = (16, 24, 24), (13, 30, 45), (13, 16, 24)
    divided = Strategy("scale-shift", position_scale=(1, 1 / 1.875, 1 / 1.875)).axes(grid2, base2, split)
    for (a, _), (b, _) in zip(divided, Strategy("interpolate").axes(grid2, base2, split)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="'scale-shift' cannot be applied to a sincos encoding"):
        chosen.positions(grid, base)
    assert as_strategy("scale-shift", position_shift=2).position_shift == (2.0, 2.0, 2.0)
    assert from_rope_scaling({"rope_type": "scale-shift", "position_scale": 0.5}).position_scale == (0.5, 0.5, 0.5)
    assert chosen.attention(grid, base) == 1.0 and "scale-shift" not in {n.split("-", 1)[1] for n in MODEL_STRATEGIES}
    with pytest.raises(ValueError, match=r"position_scale\[1\] \(H\) must be a finite number > 0, got 0.0"):
        Strategy("scale-shift", position_scale=(1, 0, 1))
    with pytest.raises(ValueError, match=r"position_shift\[0\] \(T\) must be a finite number, got nan"):
        Strategy("scale-shift", position_shift=float("nan"))
    with pytest.raises(ValueError, match=r"position_shift must have 3 entries ordered \(T, H, W\)"):
        Strategy("scale-shift", position_shift=(1.0, 2.0))
    with pytest.raises(TypeError, match="strategy 'yarn' takes no option position_shift=1"):
        Strategy("yarn", position_shift=1)


def test_a_strategy_is_frozen_hashable_and_normalised():
    a = Strategy("riflex", riflex_k=1, riflex_margin=0.9)
    assert a.riflex_k == (1, 1, 1) and a == Strategy("riflex", riflex_k=(1, 1, 1), riflex_margin=0.9)
    assert hash(a) == hash(Strategy("riflex", riflex_k=(1, 1, 1), riflex_margin=0.9))
    assert Strategy("interpolate", factor=2).factor == (2.0, 2.0, 2.0)
    assert a.options() == {"riflex_k": (1, 1, 1), "riflex_margin": 0.9}
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "ntk"  # type: ignore[misc]


def test_as_strategy_reads_names_objects_and_dicts():
    s = Strategy("yarn", yarn_beta=8.0)
    assert as_strategy(s) is s
    assert as_strategy("yarn", yarn_beta=8.0) == s
    assert as_strategy({"rope_type": "yarn", "yarn_beta": 8.0}) == s
    with pytest.raises(TypeError, match="Strategy object"):
        as_strategy(s, yarn_beta=2.0)
    with pytest.raises(TypeError, match="rope_scaling dict"):
        as_strategy({"rope_type": "yarn"}, yarn_beta=2.0)
    with pytest.raises(TypeError, match=r"strategy 'ntk' takes no option yarn_beta=8.0; options by strategy"):
        as_strategy("ntk", yarn_beta=8.0)
    with pytest.raises(TypeError, match=r"strategy 'extrapolate' takes no option factor=2.0"):
        Strategy("extrapolate", factor=2.0)


def test_a_name_is_checked_once_on_its_way_from_config_to_tables(monkeypatch):
    """ModelConfig reads the name; the model, its modules and the tables trust the Strategy they get."""
    config = ModelConfig(strategy="rope-yarn", width=32, depth=1, heads=2, base_grid=(2, 2, 2))
    checked = []
    original = strategy_module.check_choice
    monkeypatch.setattr(strategy_module, "check_choice", lambda name, *a: checked.append(name) or original(name, *a))
    model = VideoDiT(config)
    model(torch.zeros(1, 3, 4, 16, 16), torch.tensor([0.5]))  # a grid twice the base: yarn acts
    assert checked == []
    assert model.rope.strategy is config.position_strategy


# --- one axis on its own -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENCODINGS["rope"])
@FAST
@given(n0=st.integers(2, 40), n=st.integers(1, 90))
def test_one_axis_is_the_middle_axis_of_a_three_axis_grid(name, n0, n):
    """Strategy.axis needs no fake t and w axes; for the crop strategies one axis spans all of [0, n0)."""
    strategy = Strategy(name)
    positions, freqs = strategy.axis(n, n0, 24)
    if name.startswith("linspace-crop"):
        fn = diffusers_linspace_positions if name.endswith("diffusers") else linspace_positions
        assert torch.equal(positions, fn(0, n0, n, dtype=torch.float64))
        return
    try:
        _, (h, fh), _ = strategy.axes((1, n, 1), (1, n0, 1), (2, 24, 2))
    except ValueError:
        return  # e.g. RIFLEx with no period longer than n0: the same error either way
    assert torch.equal(positions, h) and torch.equal(freqs, fh)


# --- sincos under a strategy ---------------------------------------------------------------------------


@FAST
@given(base=grids(1, 8), grid=grids(1, 20))
def test_sincos_interpolate_is_index_division_where_s_exceeds_one(base, grid):
    s = tuple(max(n / n0, 1.0) for n, n0 in zip(grid, base))
    assert torch.equal(scaled_sincos_3d(32, grid, base, "interpolate"), sincos_3d(32, grid, s))
    assert torch.equal(scaled_sincos_3d(32, grid, base, "extrapolate"), sincos_3d(32, grid))


def test_sincos_interpolate_is_cogvideox_2b_index_division():
    """480x720 (30x45 tokens) from a 256x384 stage (16x24): exactly /1.875 on h and w."""
    table = scaled_sincos_3d(1920, (13, 30, 45), (13, 16, 24), "interpolate")
    assert torch.equal(table, sincos_3d(1920, (13, 30, 45), (1.0, 1.875, 1.875)))


@pytest.mark.parametrize("name", ["ntk", "yarn", "riflex", "linspace-crop", "resample"])
def test_sincos_refuses_what_it_cannot_use(name):
    with pytest.raises(ValueError, match=rf"'{name}' cannot be applied to a sincos encoding; valid for sincos"):
        scaled_sincos_3d(32, (4, 4, 4), (2, 2, 2), name)


# --- a fixed factor --------------------------------------------------------------------------------------


@FAST
@given(grid=grids(1, 12), factor=st.tuples(*[st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])] * 3))
def test_a_fixed_factor_replaces_the_grid_ratio(grid, factor):
    """``factor`` (transformers' rope_scaling) fixes s per axis, whatever the grids; s <= 1 stays arange."""
    cos, sin = scaled_rope_3d(64, grid, grid, "interpolate", factor=factor, dtype=torch.float64)
    divided = tuple(max(f, 1.0) for f in factor)
    assert same_tables((cos, sin), rope_3d(64, grid, divided, dtype=torch.float64))


# --- transformers' rope_scaling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"rope_type": "default"}, Strategy("extrapolate")),
        ({"rope_type": "linear", "factor": 2.0}, Strategy("interpolate", factor=2.0)),
        ({"type": "linear", "factor": 2.0}, Strategy("interpolate", factor=2.0)),
        ({"rope_type": "linear", "factor": (1, 1.875, 1.875)}, Strategy("interpolate", factor=(1, 1.875, 1.875))),
        ({"rope_type": "dynamic"}, Strategy("ntk")),
        ({"rope_type": "dynamic", "factor": 1.0}, Strategy("ntk")),
        ({"rope_type": "ntk", "factor": 4}, Strategy("ntk", factor=4)),
        ({"rope_type": "yarn", "factor": 2, "beta_fast": 32, "beta_slow": 1}, Strategy("yarn", factor=2, yarn_beta=32)),
        ({"rope_type": "yarn", "attention_factor": 1.0}, Strategy("yarn", attention_factor=1.0)),
        ({"rope_type": "riflex", "riflex_k": (None, 2, 2)}, Strategy("riflex", riflex_k=(None, 2, 2))),
        ({"rope_type": "riflex", "riflex_rule": "reference", "riflex_repetition_frame": 48},
         Strategy("riflex", riflex_rule="reference", riflex_repetition_frame=48)),
        # the wrappers' riflex_freq_index counts from 1 and means the reference rule
        ({"rope_type": "riflex", "riflex_freq_index": 2}, Strategy("riflex", riflex_rule="reference", riflex_k=1)),
        ({"rope_type": "riflex", "riflex_freq_index": 4, "riflex_margin": 1.0},
         Strategy("riflex", riflex_rule="reference", riflex_k=(3, None, None), riflex_margin=1.0)),
        ({"rope_type": "riflex", "riflex_freq_index": 2, "riflex_rule": "cogpe"}, Strategy("riflex", riflex_k=1)),
        ({"rope_type": "linspace-crop"}, Strategy("linspace-crop")),
    ],
)
def test_rope_scaling_dicts_map_onto_the_vocabulary(config, expected):
    assert from_rope_scaling(config) == expected
    assert as_strategy(config) == expected


def test_rope_scaling_linear_and_yarn_tables():
    base, grid = (2, 3, 4), (4, 6, 8)
    linear = scaled_rope_3d(64, grid, base, {"rope_type": "linear", "factor": 2.0}, dtype=torch.float64)
    assert same_tables(linear, rope_3d(64, grid, (2.0, 2.0, 2.0), dtype=torch.float64))
    yarn = scaled_rope_3d(64, grid, base, {"rope_type": "yarn", "beta_fast": 8, "beta_slow": 0.5}, dtype=torch.float64)
    assert same_tables(yarn, scaled_rope_3d(64, grid, base, "yarn", yarn_beta=8, yarn_alpha=0.5, dtype=torch.float64))
    # attention_factor replaces YaRN's 0.1 ln s + 1 on cos and sin
    plain = scaled_rope_3d(64, grid, base, "yarn", attention_factor=1.0, dtype=torch.float64)
    scaled = scaled_rope_3d(64, grid, base, {"rope_type": "yarn", "attention_factor": 1.5}, dtype=torch.float64)
    torch.testing.assert_close(scaled[0], plain[0] * 1.5, rtol=1e-15, atol=1e-15)
    default = scaled_rope_3d(64, grid, base, "yarn", dtype=torch.float64)
    torch.testing.assert_close(default[0], plain[0] * yarn_attention_factor(2.0), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize(
    "config, error, match",
    [
        ({"rope_type": "longrope"}, ValueError, r"unknown rope_type 'longrope'; valid: 'default', 'linear', 'dynamic', 'yarn'"),
        ({"rope_type": "llama3", "factor": 8.0}, ValueError, r"unknown rope_type 'llama3'"),
        ({"factor": 2.0}, ValueError, r"needs 'rope_type'"),
        ({"rope_type": "yarn", "mscale": 1.0}, ValueError, r"key 'mscale' is not valid for rope_type 'yarn'; valid keys: 'rope_type', 'attention_factor', 'beta_fast', 'beta_slow'"),
        ({"rope_type": "linear", "beta_fast": 4}, ValueError, r"key 'beta_fast' is not valid for rope_type 'linear'; valid keys: 'rope_type', 'factor'"),
        ({"rope_type": "default", "factor": 2.0}, ValueError, r"key 'factor' is not valid for rope_type 'default'"),
        ({"rope_type": "dynamic", "factor": 2.0}, ValueError, r"dynamic.*factor=2.0.*'rope_type': 'ntk'"),
        ({"rope_type": "linear", "type": "yarn"}, ValueError, r"rope_type='linear' and type='yarn'"),
        ({"rope_type": "linear", "factor": 0}, ValueError, r"factor\[0\] \(T\) must be a finite number > 0"),
        ({"rope_type": "yarn", "beta_fast": 1, "beta_slow": 2}, ValueError, r"yarn_beta=1.0 must be greater than yarn_alpha=2.0"),
        ({"rope_type": "yarn", "riflex_freq_index": 2}, ValueError, r"key 'riflex_freq_index' is not valid for rope_type 'yarn'"),
        ({"rope_type": "riflex", "riflex_freq_index": 0}, ValueError, r"riflex_freq_index=0 switches RIFLEx off.*'default'"),
        ({"rope_type": "riflex", "riflex_freq_index": -1}, ValueError, r"riflex_freq_index must be an integer >= 1, got -1"),
        ({"rope_type": "riflex", "riflex_freq_index": 2.0}, TypeError, r"riflex_freq_index must be an integer \(the time axis' pair counted from 1\)"),
        ({"rope_type": "riflex", "riflex_freq_index": 2, "riflex_k": 1}, ValueError, r"riflex_freq_index=2 and riflex_k=1; give one"),
        ({"rope_type": "riflex", "riflex_rule": "paper"}, ValueError, r"unknown riflex_rule 'paper'; valid: 'cogpe', 'reference'"),
        ("yarn", TypeError, r"rope_scaling must be a dict"),
    ],
)
def test_bad_rope_scaling_names_the_key_and_the_valid_ones(config, error, match):
    with pytest.raises(error, match=match):
        from_rope_scaling(config)


def test_rope_types_table():
    assert dict(ROPE_TYPES) == {"default": "extrapolate", "linear": "interpolate", "dynamic": "ntk", "yarn": "yarn"}


def test_scaled_axes_takes_every_form_of_a_strategy():
    base, grid = (2, 3, 4), (4, 6, 8)
    by_name = scaled_axes(64, grid, base, "riflex", riflex_margin=0.9)
    by_object = scaled_axes(64, grid, base, Strategy("riflex", riflex_margin=0.9))
    by_dict = scaled_axes(64, grid, base, {"rope_type": "riflex", "riflex_margin": 0.9})
    for a, b, c in zip(by_name, by_object, by_dict):
        assert same_tables(a, b) and same_tables(a, c)


def test_unknown_rope_type_lists_each_valid_name_once():
    with pytest.raises(ValueError) as err:
        from_rope_scaling({"rope_type": "llama3"})
    names = str(err.value).split("valid: ")[1].split(", ")
    assert len(names) == len(set(names)) and "'yarn'" in names


# --- RIFLEx: cogpe's rule and the reference rule ----------------------------------------------------

COG_BASE = (13, 30, 45)  # CogVideoX-5B: 49 frames at 480 x 720
REFERENCE = Strategy("riflex", riflex_rule="reference")


def test_riflex_rules_and_their_margins():
    assert dict(RIFLEX_RULES) == {"cogpe": 1.0, "reference": 0.9}
    assert Strategy("riflex").riflex_margin == 1.0 and REFERENCE.riflex_margin == 0.9
    assert REFERENCE == Strategy("riflex", riflex_rule="reference", riflex_margin=0.9)
    assert Strategy("riflex") == Strategy("riflex", riflex_margin=1.0)
    assert repr(REFERENCE) == "Strategy('riflex', riflex_rule='reference')" and REFERENCE.options() == {"riflex_rule": "reference"}
    loose = Strategy("riflex", riflex_rule="reference", riflex_margin=1.0)
    assert repr(loose) == "Strategy('riflex', riflex_margin=1.0, riflex_rule='reference')"
    # the reference rule's k is the time axis' only
    assert Strategy("riflex", riflex_rule="reference", riflex_k=1).riflex_k == (1, None, None)
    assert Strategy("riflex", riflex_k=1).riflex_k == (1, 1, 1)


@pytest.mark.parametrize(
    "strategy",
    [
        Strategy("riflex"),
        REFERENCE,
        Strategy("riflex", riflex_rule="reference", riflex_k=3, riflex_margin=0.5),
        Strategy("riflex", riflex_rule="reference", riflex_repetition_frame=48, factor=(2, 1, 1)),
        Strategy("riflex", riflex_rule="reference", riflex_margin=1.0),
        Strategy("riflex", riflex_k=(None, 2, 0), riflex_margin=0.9),
        Strategy("yarn", yarn_beta=8.0),
    ],
    ids=repr,
)
def test_options_repr_and_rope_scaling_round_trip(strategy):
    assert Strategy(strategy.name, **strategy.options()) == strategy
    assert as_strategy(strategy.name, **strategy.options()) == strategy
    assert from_rope_scaling({"rope_type": strategy.name, **strategy.options()}) == strategy
    assert eval(repr(strategy), {"Strategy": Strategy}) == strategy
    assert dataclasses.replace(strategy) == strategy and hash(dataclasses.replace(strategy)) == hash(strategy)


@FAST
@given(base=grids(1, 8), grid=grids(1, 20), k=st.one_of(st.none(), st.integers(0, 7)))
def test_the_reference_rule_changes_the_time_axis_only(base, grid, k):
    axes = scaled_axes(64, grid, base, "riflex", riflex_rule="reference", riflex_k=k)
    (t, ft), (h, fh), (w, fw) = axes
    assert torch.equal(fh, rope_frequencies(24)) and torch.equal(fw, rope_frequencies(24))
    for positions, n in zip((t, h, w), grid):
        assert torch.equal(positions, torch.arange(n, **f64))
    s = max(grid[0] / base[0], 1.0)
    try:
        expected = riflex_reference_frequencies(16, base[0], s, k=k)
    except ValueError:  # no incomplete pair on t to default to: the same error either way
        return
    assert torch.equal(ft, expected)


@pytest.mark.parametrize(
    "strategy",
    [REFERENCE, Strategy("riflex", riflex_rule="reference", riflex_k=0),
     Strategy("riflex", riflex_rule="reference", riflex_repetition_frame=6, riflex_margin=0.3)],
    ids=repr,
)
@FAST
@given(data=st.data())
def test_the_reference_rule_is_the_identity_at_or_below_the_trained_length(strategy, data):
    """The reference code replaces RoPE only beyond the trained length (L_test > N_k >= n0 there)."""
    base = data.draw(grids(2, 12))
    grid = data.draw(st.tuples(*(st.integers(1, n0) for n0 in base)))
    tables = scaled_rope_3d(64, grid, base, strategy, dtype=torch.float64)
    assert same_tables(tables, rope_3d(64, grid, dtype=torch.float64))


def test_the_two_rules_on_cogvideox_5b_in_numbers():
    """Twice and three times the frames (26, 39 latent): both change t pair 1 (period 19.9), cogpe's to
    26 / 39 frames, the reference to 28.9 / 43.3 (margin 0.9); at twice the frames *and* twice the
    resolution cogpe also slows h pair 2 (29.2 -> 60) and w pair 3 (62.8 -> 90), the reference does not."""
    def periods(strategy, grid):
        return [2 * math.pi / f for _, f in scaled_axes(64, grid, COG_BASE, strategy)]

    plain = [2 * math.pi / rope_frequencies(d) for d in (16, 24, 24)]
    for frames, cogpe_period, reference_period in [(26, 26.0, 28.889), (39, 39.0, 43.333)]:
        for strategy, new in [("riflex", cogpe_period), (REFERENCE, reference_period)]:
            t, h, w = periods(strategy, (frames, 30, 45))
            changed = (t != plain[0]).nonzero().flatten().tolist()
            assert changed == [1] and t[1].item() == pytest.approx(new, abs=1e-3)
            assert torch.equal(h, plain[1]) and torch.equal(w, plain[2])
    assert plain[0][1].item() == pytest.approx(19.87, abs=1e-2)
    cogpe_axes = periods("riflex", (26, 60, 90))
    reference_axes = periods(REFERENCE, (26, 60, 90))
    assert [(p != q).nonzero().flatten().tolist() for p, q in zip(cogpe_axes, plain)] == [[1], [2], [3]]
    assert [(p != q).nonzero().flatten().tolist() for p, q in zip(reference_axes, plain)] == [[1], [], []]
    assert cogpe_axes[1][2].item() == pytest.approx(60.0) and cogpe_axes[2][3].item() == pytest.approx(90.0)
    assert plain[1][2].item() == pytest.approx(29.16, abs=1e-2) and plain[2][3].item() == pytest.approx(62.83, abs=1e-2)


def test_the_repetition_frame_chooses_k_on_the_time_axis():
    """HunyuanVideo (t: d = 16, θ = 256, 33 latent frames) at 261 frames (66 latent): repetition near
    frame 48 -> the reference code's k = 4 (here 3), θ_3 = 0.9·2π/66; CogVideoX-5B near frame 20 -> k = 1."""
    hunyuan = Strategy("riflex", riflex_rule="reference", riflex_repetition_frame=48)
    _, freqs = hunyuan.axis(66, 33, 16, theta=256.0, axis=0)
    base = rope_frequencies(16, 256.0)
    assert (freqs != base).nonzero().flatten().tolist() == [3]
    assert freqs[3].item() == pytest.approx(0.9 * 2 * math.pi / 66, rel=1e-15)
    assert torch.equal(hunyuan.axis(66, 33, 16, theta=256.0, axis=1)[1], base)  # h, w: untouched
    cog = Strategy("riflex", riflex_rule="reference", riflex_repetition_frame=20)
    given_k = Strategy("riflex", riflex_rule="reference", riflex_k=1)
    assert torch.equal(cog.axis(26, 13, 16, axis=0)[1], given_k.axis(26, 13, 16, axis=0)[1])
    assert torch.equal(REFERENCE.axis(26, 13, 16, axis=0)[1], given_k.axis(26, 13, 16, axis=0)[1])  # intrinsic: 1
    # the cogpe rule on the same axis: pair 1 to period 26 exactly
    assert torch.equal(Strategy("riflex").axis(26, 13, 16, axis=0)[1], riflex_frequencies(16, 13, 2.0))


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(riflex_rule="paper"), ValueError, r"unknown riflex_rule 'paper'; valid: 'cogpe', 'reference'"),
        (dict(riflex_rule=None), TypeError, r"riflex_rule must be a string, one of 'cogpe', 'reference'"),
        (dict(riflex_rule="reference", riflex_repetition_frame=0), ValueError,
         r"riflex_repetition_frame must be an integer >= 1, got 0"),
        (dict(riflex_rule="reference", riflex_repetition_frame=20.5), TypeError,
         r"riflex_repetition_frame must be an integer \(latent frame at which the video repeats\), got 20.5"),
        (dict(riflex_rule="reference", riflex_repetition_frame=True), TypeError, r"riflex_repetition_frame"),
        (dict(riflex_repetition_frame=20), ValueError,
         r"riflex_repetition_frame=20 chooses k under riflex_rule='reference' only, got riflex_rule='cogpe'"),
        (dict(riflex_rule="reference", riflex_repetition_frame=20, riflex_k=1), ValueError,
         r"riflex_repetition_frame=20 and riflex_k=1 both choose"),
        (dict(riflex_rule="reference", riflex_k=(1, 2, None)), ValueError,
         r"riflex_k=\(1, 2, None\) names a pair of h or w, but riflex_rule='reference' changes the time axis only; give riflex_k=1"),
        (dict(riflex_rule="reference", riflex_margin=1.5), ValueError, r"riflex_margin=1.5 must be in \(0, 1\]"),
    ],
)
def test_bad_riflex_options_name_the_argument_value_and_valid_ones(options, error, match):
    with pytest.raises(error, match=match):
        Strategy("riflex", **options)
    with pytest.raises(error, match=match):
        as_strategy({"rope_type": "riflex", **options})


@pytest.mark.parametrize("name", ["extrapolate", "ntk", "yarn", "interpolate"])
@pytest.mark.parametrize("option", [dict(riflex_rule="reference"), dict(riflex_repetition_frame=20)])
def test_riflex_options_belong_to_riflex(name, option):
    (key, value), = option.items()
    with pytest.raises(TypeError, match=rf"strategy '{name}' takes no option {key}={value!r}; options by strategy"):
        Strategy(name, **option)
