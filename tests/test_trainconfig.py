"""cogpe.trainconfig: configurations round-trip through plain data, the presets are the sizes the book
states, and a bad configuration gets a message that names the fix."""

import dataclasses
import json

import pytest

from cogpe.model import ModelConfig
from cogpe.trainconfig import PRESET_SEEDS, TRAIN_PRESETS, Probe, Stage, TrainConfig, parse_stages, train_preset


def test_bad_config_gets_a_clear_error():
    model = ModelConfig(width=32, depth=1, heads=2)
    with pytest.raises(ValueError, match="stages is empty; give at least one Stage"):
        TrainConfig(model=model, stages=())
    with pytest.raises(ValueError, match=r"stages\[1\]: width=30 is not divisible by the patch size 4"):
        TrainConfig(model=model, stages=(Stage(2, 8, 8, 1, 1, 1e-3), Stage(2, 8, 30, 1, 1, 1e-3)))
    with pytest.raises(ValueError, match=r"probes\[0\] \('odd'\): frames"):
        TrainConfig(model=dataclasses.replace(model, patch=(2, 4, 4)), stages=(Stage(2, 8, 8, 1, 1, 1e-3),),
                    probes=(Probe("odd", 3, 8, 8),))
    with pytest.raises(ValueError, match="unknown objective 'eps'"):
        TrainConfig(model=model, stages=(Stage(2, 8, 8, 1, 1, 1e-3),), objective="eps")
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        Stage(2, 8, 8, steps=1, batch=1, lr=0.0)
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        train_preset("nope")


def test_config_round_trip_and_presets():
    for name in ("tiny", "quick", "gpu"):
        config = train_preset(name, strategy="rope-riflex", seed=3)
        assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    quick = train_preset("quick")
    assert quick.model_config().base_grid == (8, 4, 4)  # 128 tokens -> 512 at 8 x 16 x 16
    assert [s.resolution for s in quick.stages] == [(8, 8, 8), (8, 16, 16)]
    assert [s.steps for s in quick.stages] == [300, 30]
    assert (quick.model.width, quick.model.depth, quick.model.head_dim) == (128, 4, 64)
    assert [(p.name, p.resolution, p.extent) for p in quick.probes] == [
        ("low", (8, 8, 8), 1.0), ("zoom", (8, 16, 16), 1.0), ("wide", (8, 16, 16), 2.0), ("long", (16, 8, 8), 1.0)]
    assert parse_stages("1x4x4:1:1:1e-3:0:1") == (Stage(1, 4, 4, 1, 1, 1e-3, 0, 1),)


# --- the experiments: each axis under test is in the regime its question needs -----------------------------

from cogpe.regime import grid_regime
from cogpe.rope import default_split


def _regimes(name):
    config = TRAIN_PRESETS[name]
    model = config.model_config()
    split = default_split(model.head_dim)
    return config, {p.name: grid_regime(split, model.base_grid, model.theta, model.token_grid(*p.resolution))
                    for p in config.probes}


@pytest.mark.parametrize("name", ["time", "time-gpu"])
def test_the_temporal_experiment_has_cogvideox_5b_time_axis_and_probes_past_its_period(name):
    config, regimes = _regimes(name)
    t = regimes["long3"][0]
    assert (t.n0, t.complete, t.intrinsic) == (13, 1, 1)  # CogVideoX-5B's 13 latent frames
    assert regimes["long"][0].probe >= 2 * t.n0 and t.probe >= 3 * t.n0 and t.beyond_period
    assert regimes["tzoom"][0].probe == 2 * t.n0 and config.probes[-1].frame_step == 0.5


@pytest.mark.parametrize("name", ["space", "space-gpu"])
def test_the_spatial_experiment_completes_a_pair_and_probes_past_its_period(name):
    config, regimes = _regimes(name)
    for probe in ("zoom", "zoom3", "wide"):
        _, h, w = regimes[probe]
        assert h.n0 >= 8 and w.n0 >= 8 and h.complete >= 1 and w.complete >= 1
        assert h.beyond_period and w.beyond_period
    assert min(config.stages[0].height, config.stages[0].width) >= 32  # shapes a reader can tell apart
    assert dict((p.name, p.extent) for p in config.probes)["wide"] == 2.0


def test_experiments_run_ten_seeds():
    assert all(len(PRESET_SEEDS[n]) >= 10 for n in ("time", "space", "time-gpu", "space-gpu"))


def test_cooldown_falls_linearly_towards_zero_and_refuses_more_steps_than_the_stage():
    stage = Stage(2, 8, 8, steps=8, batch=1, lr=1.0, warmup=2, cooldown=3)
    assert [stage.lr_at(i) for i in range(8)] == [0.5, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert [Stage(2, 8, 8, steps=4, batch=1, lr=1.0).lr_at(i) for i in range(4)] == [1.0] * 4   # the default
    assert parse_stages("1x4x4:10:1:1e-3:0:0:5")[0].cooldown == 5
    with pytest.raises(ValueError, match=r"warmup=2 \+ cooldown=3 exceeds steps=4"):
        Stage(2, 8, 8, steps=4, batch=1, lr=1.0, warmup=2, cooldown=3)
    with pytest.raises(ValueError, match="cooldown"):
        Stage(2, 8, 8, steps=4, batch=1, lr=1.0, cooldown=-1)
