"""cogpe.strategy: one vocabulary — a name plus options, validated once — for sincos, RoPE and learned
tables, the lab model's ``<encoding>-<strategy>`` names and transformers-style ``rope_scaling`` dicts."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cogpe.strategy as strategy_module
from cogpe import rope_3d, sincos_3d
from cogpe.grids import diffusers_linspace_positions, linspace_positions
from cogpe.model import ModelConfig, VideoDiT
from cogpe.scaling import yarn_attention_factor
from cogpe.strategy import (
    ENCODINGS,
    MODEL_STRATEGIES,
    ROPE_TYPES,
    STRATEGIES,
    STRATEGY_OPTIONS,
    Strategy,
    as_strategy,
    from_rope_scaling,
    parse_model_strategy,
    scaled_axes,
    scaled_rope_3d,
    scaled_sincos_3d,
)

FAST = settings(max_examples=40, deadline=None)
f64 = dict(dtype=torch.float64)


def grids(lo: int = 1, hi: int = 9):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi), st.integers(lo, hi))


def same_tables(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


# --- the vocabulary ------------------------------------------------------------------------------------


def test_one_list_of_names_and_what_each_encoding_takes():
    assert STRATEGIES == ("extrapolate", "interpolate", "ntk", "yarn", "riflex", "linspace-crop",
                          "linspace-crop-diffusers", "resample")
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
