"""cogpe.adapters.use_strategy with a timestep schedule (``late=``, ``watershed=``): Lumina-Next's time-aware
scaling — one strategy while the denoising progress 1 − t/1000 is below the watershed, another after.

Oracle: the same model under each strategy alone (tests/test_adapters*.py check those against diffusers
and cogpe.strategy). With watershed 0.3 the switch is between t = 701 (progress 0.299: early) and t = 700
(progress 0.3: late).
"""

from __future__ import annotations

import pytest
import torch

import adapters_wan_hunyuan_support as wh
from adapters_support import (
    BASE,
    BASE_2B,
    generate,
    one_thread,  # noqa: F401 (autouse fixture)
    pipeline_tables,
    run,
    tiny_2b,
    tiny_pipeline,
    tiny_transformer,
)
from cogpe.adapters import use_strategy
from cogpe.adapters.schedule import TimestepSchedule
from cogpe.strategy import ENCODINGS, Strategy

GRID = (5, 8, 12)  # about twice the trained 3×4×6: both strategies act on every axis
EARLY, LATE = (999, 701), (700, 1)  # timesteps on either side of watershed 0.3


@pytest.fixture(scope="module")
def cogvideox():
    return tiny_transformer("1.0")


def received(transformer):
    """A list that gets the ``image_rotary_emb`` the first block's attention runs with, call by call (its
    ``forward``, which runs after every hook)."""
    seen = []
    attention = transformer.transformer_blocks[0].attn1
    forward = attention.forward

    def spy(*args, **kwargs):
        seen.append(kwargs["image_rotary_emb"])
        return forward(*args, **kwargs)

    attention.forward = spy
    return seen


@pytest.mark.parametrize("early, late", [("interpolate", "ntk"), ("linspace-crop-diffusers", "yarn"),
                                         (Strategy("riflex", riflex_k=0), {"rope_type": "yarn", "factor": 2.0})],
                         ids=["pi-ntk", "crop-yarn", "objects"])
def test_each_phase_is_exactly_its_strategy(early, late):
    """Above the watershed's timestep the model's output is the early strategy's alone, below it the late
    one's, bit for bit — YaRN's temperature on q included; the blocks receive exactly those tables."""
    transformer = tiny_transformer("1.0")
    seen = received(transformer)
    alone = {}
    for phase, strategy in (("early", early), ("late", late)):
        with use_strategy(transformer, strategy) as handle:
            alone[phase] = {t: run(transformer, "1.0", GRID, step=t) for t in EARLY + LATE}
            alone[phase]["tables"] = handle.tables(GRID)
    with use_strategy(transformer, early, late=late, watershed=0.3) as handle:
        for phase, steps in (("early", EARLY), ("late", LATE)):
            for t in steps:
                assert torch.equal(run(transformer, "1.0", GRID, step=t), alone[phase][t]), (phase, t)
                assert all(torch.equal(a, b) for a, b in zip(seen[-1], alone[phase]["tables"])), (phase, t)
                assert seen[-1] is handle.tables(GRID, timestep=t)  # the cached tables of that phase
        assert handle.schedule.phase(701) == "early" and handle.schedule.phase(700) == "late"
    assert not torch.equal(alone["early"][999], alone["late"][999])  # the two strategies differ here


def test_tables_of_both_phases_are_built_once(cogvideox):
    with use_strategy(cogvideox, "interpolate", late="ntk", watershed=0.3) as handle:
        first = {t: handle.tables(GRID, timestep=t) for t in (999, 1)}
        for t in (999, 1, 999, 1):
            run(cogvideox, "1.0", GRID, step=t)
        assert all(handle.tables(GRID, timestep=t) is first[t] for t in first)
        assert first[999] is not first[1] and handle.tables(GRID) is first[999]  # no timestep: the early one


@pytest.mark.parametrize("late", ["ntk", "yarn", "riflex", "extrapolate"])
def test_training_grid_is_bit_identical_in_both_phases(cogvideox, late):
    expected = {t: run(cogvideox, "1.0", BASE, pipeline_tables(cogvideox, "1.0", BASE), step=t) for t in (999, 1)}
    with use_strategy(cogvideox, "interpolate", late=late, watershed=0.5):
        for t, out in expected.items():
            assert torch.equal(run(cogvideox, "1.0", BASE, None, step=t), out), t


def test_yarn_temperature_follows_the_phase(cogvideox):
    with use_strategy(cogvideox, "ntk", late="yarn", watershed=0.3) as handle:
        assert handle.q_scale(GRID, timestep=999) == 1.0 and handle.q_scale(GRID, timestep=1) > 1.05


def test_2b_schedule_interpolates_early_and_extrapolates_late():
    """On CogVideoX-2B's sincos table: interpolate while noisy, then diffusers' own (extrapolated) positions."""
    transformer, grid = tiny_2b(), (3, 30, 30)
    own = {t: run(transformer, "1.0", grid, step=t) for t in (999, 1)}
    with use_strategy(transformer, "interpolate") as handle:
        interpolated = run(transformer, "1.0", grid, step=999)
    with use_strategy(transformer, "interpolate", late="extrapolate", watershed=0.3) as handle:
        assert torch.equal(run(transformer, "1.0", grid, step=999), interpolated)
        assert torch.equal(run(transformer, "1.0", grid, step=1), own[1])
        assert handle.patch_table(grid, timestep=1) is None and handle.patch_table(grid, timestep=999) is not None
        assert handle.patch_table(BASE_2B, timestep=999) is None
    assert not torch.equal(interpolated, own[999])


@pytest.mark.parametrize("family", wh.FAMILIES)
def test_wan_and_hunyuan_read_the_timestep_too(family):
    transformer = wh.tiny(family)
    alone = {}
    for name in ("interpolate", "ntk"):
        with use_strategy(transformer, name, base_grid=wh.BASE):
            alone[name] = {t: wh.run(transformer, GRID, step=t) for t in (999, 1)}
    with use_strategy(transformer, "interpolate", late="ntk", watershed=0.3, base_grid=wh.BASE):
        assert torch.equal(wh.run(transformer, GRID, step=999), alone["interpolate"][999])
        assert torch.equal(wh.run(transformer, GRID, step=1), alone["ntk"][1])


def test_a_pipeline_switches_between_its_steps():
    """diffusers' CogVideoXPipeline, 2 DDIM steps (t = 500, then 0; one forward each, guidance batched)
    under interpolate → ntk at watershed 0.6: the first step (progress 0.5) gets interpolate's tables,
    the second (progress 1) NTK's."""
    transformer = tiny_transformer("1.0")
    pipeline = tiny_pipeline(transformer)
    steps, seen = [], received(transformer)
    transformer.register_forward_pre_hook(lambda m, a, k: steps.append(int(k["timestep"][0])), with_kwargs=True)
    call = dict(num_frames=17, height=128, width=192)  # 5 x 8 x 12 tokens
    with use_strategy(pipeline, "interpolate", late="ntk", watershed=0.6) as handle:
        assert handle.schedule.num_train_timesteps == pipeline.scheduler.config.num_train_timesteps == 1000
        scheduled = generate(pipeline, **call)
        expected = [handle.tables(GRID, timestep=t) for t in steps]
        assert [handle.schedule.phase(t) for t in steps] == ["early", "late"]
    assert steps == [500, 0] and [tables is e for tables, e in zip(seen, expected)] == [True, True]
    assert expected[0] is not expected[1]
    with use_strategy(pipeline, "interpolate"):
        assert not torch.equal(generate(pipeline, **call), scheduled)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"late": "ntk"}, TypeError, r"late= needs watershed=: a timestep schedule"),
        ({"watershed": 0.3}, TypeError, r"watershed= needs late="),
        ({"late": "ntk", "watershed": 1.5}, ValueError, r"watershed=1.5 is outside \[0, 1\].*for a timestep t\* pass 1 − t\*/1000"),
        ({"late": "ntk", "watershed": "0.3"}, TypeError, r"watershed must be a number in \[0, 1\]"),
        ({"late": "ntk", "watershed": True}, TypeError, r"watershed must be a number"),
        ({"late": "resample", "watershed": 0.3}, ValueError, r"strategy='resample' cannot be used by CogVideoX 1.0.*valid strategies"),
        ({"late": {"rope_type": "longrope"}, "watershed": 0.3}, ValueError, r"unknown rope_type 'longrope'"),
        ({"late": Strategy("riflex", riflex_k=2), "watershed": 0.3}, ValueError, r"riflex_k\[0\] \(t\)"),
    ],
)
def test_bad_schedules_are_refused_before_anything_runs(kwargs, error, message):
    transformer = tiny_transformer("1.0", layers=1)
    with pytest.raises(error, match=message):
        use_strategy(transformer, "interpolate", **kwargs)
    with use_strategy(transformer, "ntk"):  # nothing was left active
        pass


def test_a_sincos_model_refuses_a_rope_late_strategy():
    with pytest.raises(ValueError, match=r"strategy='ntk' cannot be used by CogVideoX-2B.*'extrapolate', 'interpolate'"):
        use_strategy(tiny_2b(layers=1), "interpolate", late="ntk", watershed=0.3)


def test_a_call_without_a_timestep_is_refused_and_changes_nothing(cogvideox):
    hidden = torch.zeros(1, 3, 4, 8, 12)
    with use_strategy(cogvideox, "interpolate", late="ntk", watershed=0.3):
        with pytest.raises(ValueError, match=r"picks the strategy by the timestep the transformer receives, but this call passed none"):
            cogvideox(hidden, torch.zeros(1, 3, 8), None)
    with pytest.raises(TypeError, match=r"timestep must be a number or a tensor"):
        TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3).phase("500")
    for name in ENCODINGS["rope"][:2]:
        with use_strategy(cogvideox, name):
            pass
