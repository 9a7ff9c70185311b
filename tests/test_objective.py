"""cogpe.objective: the corruption is the stated interpolation; the held-out loss and the samples are
deterministic; every video's noise is its own, whatever batch or process draws it."""

from __future__ import annotations

import pytest
import torch

from cogpe.data import DataConfig, VideoDataset
from cogpe.objective import NOISE_STREAMS, corrupt, evaluate, keyed_generator, noise_and_levels, sample
from cogpe.train import load_model, train
from cogpe.trainconfig import train_preset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny preset trained under sincos-interpolate: its final model."""
    out = tmp_path_factory.mktemp("run")
    train(train_preset("tiny", strategy="sincos-interpolate"), out, device="cpu", progress=False)
    return load_model(out / "ckpt.pt")


def test_corrupt_is_the_stated_interpolation():
    x0, eps, t = torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0.0, 0.5, 1.0])
    x_t, v = corrupt(x0, eps, t, "flow")
    torch.testing.assert_close(x_t[0], x0[0])
    torch.testing.assert_close(x_t[2], eps[2])
    torch.testing.assert_close(x_t + (0.0 - t[:, None]) * v, x0)  # one exact Euler step to t = 0
    x_t, v = corrupt(x0, eps, t, "v")
    a, s = torch.cos(t * torch.pi / 2)[:, None], torch.sin(t * torch.pi / 2)[:, None]
    torch.testing.assert_close(a * x_t - s * v, x0, atol=1e-6, rtol=0)  # x0 and ε are recoverable
    torch.testing.assert_close(s * x_t + a * v, eps, atol=1e-6, rtol=0)


def test_evaluate_and_sample_are_deterministic(trained):
    model = trained
    data = DataConfig(max_objects=2)
    a = evaluate(model, data, (4, 16, 16), n_videos=5, seed=3, batch_size=2)
    assert a == pytest.approx(evaluate(model, data, (4, 16, 16), n_videos=5, seed=3, batch_size=5), rel=1e-6)
    assert a != evaluate(model, data, (4, 16, 16), n_videos=5, seed=4)
    two = evaluate(model, data, (4, 16, 16), n_videos=2, timesteps=[0.25, 0.75])
    assert two > 0
    s1 = sample(model, 2, (4, 16, 16), steps=3, seed=1)
    assert s1.shape == (2, 3, 4, 16, 16) and torch.equal(s1, sample(model, 2, (4, 16, 16), steps=3, seed=1))
    assert s1.abs().max() <= 1


def test_a_videos_noise_does_not_depend_on_its_batch():
    """Any slice of a global batch (a DDP process's share) draws exactly the single-process values."""
    shape = (3, 2, 4, 4)
    noise, t = noise_and_levels("train", 7, range(6), shape)
    for part in ([0, 1, 2], [3, 4, 5], [4]):
        n, lv = noise_and_levels("train", 7, part, shape)
        assert torch.equal(n, noise[part]) and torch.equal(lv, t[part])
    assert ((0 <= t) & (t < 1)).all()


def test_streams_and_seeds_are_independent():
    draws = {(stream, seed): noise_and_levels(stream, seed, [0, 1], (2, 3))[0]
             for stream in NOISE_STREAMS for seed in (0, 1)}
    keys = list(draws)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not torch.equal(draws[a], draws[b]), (a, b)
    # the streams are keyed on fixed integers: stored checkpoints and results stay reproducible
    assert NOISE_STREAMS == {"train": 1, "eval": 2, "sample": 3}
    g = keyed_generator(NOISE_STREAMS["eval"], 0, 1)
    torch.rand((), generator=g, dtype=torch.float64)
    assert torch.equal(torch.randn((2, 3), generator=g), draws[("eval", 0)][1])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: corrupt(torch.ones(1, 2), torch.ones(1, 2), torch.ones(1), "eps"), ValueError, "unknown objective 'eps'"),
        (lambda: noise_and_levels("test", 0, [0], (1,)), ValueError, "unknown stream 'test'; valid: 'train', 'eval', 'sample'"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bad_model_input(trained):
    with pytest.raises(ValueError, match=r"timesteps must be numbers in \[0, 1\], got 1.5"):
        evaluate(trained, DataConfig(), (4, 16, 16), n_videos=1, timesteps=[1.5])
    with pytest.raises(ValueError, match="n_videos must be an integer >= 1, got 0"):
        evaluate(trained, DataConfig(), (4, 16, 16), n_videos=0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        sample(trained, 1, (4, 16, 16), steps=0)


def test_measurements_leave_the_training_flag_as_they_found_it():
    """evaluate, heldout_attention_entropy and sample run in eval mode and restore the flag, also on error."""
    from cogpe.data import DataConfig
    from cogpe.model import ModelConfig, VideoDiT
    from cogpe.objective import evaluate, heldout_attention_entropy, sample

    model = VideoDiT(ModelConfig(width=32, depth=1, heads=2, base_grid=(2, 2, 2)))
    for training in (True, False):
        model.train(training)
        evaluate(model, DataConfig(), (2, 8, 8), n_videos=2)
        heldout_attention_entropy(model, DataConfig(), (2, 8, 8), n_videos=2)
        sample(model, 1, (2, 8, 8), steps=1)
        assert model.training is training
    model.train()
    with pytest.raises(ValueError):
        sample(model, 1, (2, 8, 8), steps=1, channels=2)  # wrong channel count, raised inside the loop
    assert model.training is True


# --- the resolution-dependent shift -----------------------------------------------------------------------

import math as _math

from cogpe.objective import resolution_shift, shift_levels


@pytest.mark.parametrize("objective", ["flow", "v"])
@pytest.mark.parametrize("s", [0.5, 1.0, 1.7, 3.0])
def test_shift_multiplies_the_noise_to_signal_ratio(objective, s):
    t = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    shifted = shift_levels(t, s, objective)
    ratio = (lambda u: u / (1 - u)) if objective == "flow" else (lambda u: torch.tan(u * _math.pi / 2))
    torch.testing.assert_close(ratio(shifted), s * ratio(t))
    assert (shifted.diff() > 0).all()  # still a schedule: monotone
    torch.testing.assert_close(shift_levels(shifted, 1 / s, objective), t)  # 1/s undoes s
    ends = shift_levels(torch.tensor([0.0, 1.0]), s, objective)
    assert ends.tolist() == [0.0, 1.0]


def test_resolution_shift_is_the_root_of_the_token_ratio():
    assert resolution_shift((8, 4, 4), (8, 4, 4)) == 1.0
    assert resolution_shift((39, 4, 4), (13, 4, 4)) == pytest.approx(_math.sqrt(3))
    with pytest.raises(ValueError, match="grid"):
        resolution_shift((8, 0, 4), (8, 4, 4))
    with pytest.raises(ValueError, match="shift must be a finite number > 0"):
        shift_levels(torch.tensor([0.5]), 0.0)


def test_a_shifted_stage_trains_on_shifted_levels_and_the_first_does_not(monkeypatch, tmp_path):
    import dataclasses

    import cogpe.train as train_module
    from cogpe.trainconfig import train_preset

    config = dataclasses.replace(train_preset("tiny"), noise_shift=True)
    seen = []
    original = train_module.shift_levels
    monkeypatch.setattr(train_module, "shift_levels",
                        lambda t, s, objective: seen.append(s) or original(t, s, objective))
    assert config.level_shift(config.stages[0].resolution) == 1.0
    assert config.level_shift(config.stages[1].resolution) == 2.0
    assert dataclasses.replace(config, noise_shift=False).level_shift(config.stages[1].resolution) == 1.0
    with pytest.raises(TypeError, match="noise_shift must be True or False"):
        dataclasses.replace(config, noise_shift=1)
    train(config, tmp_path, device="cpu", progress=False)
    steps = [stage.steps for stage in config.stages]
    assert seen == [1.0] * steps[0] + [2.0] * steps[1]


def test_a_temporal_zoom_probe_evaluates_the_same_clips_at_twice_the_frame_rate(trained):
    from cogpe.trainconfig import Probe

    data = DataConfig()
    zoom = evaluate(trained, data, (4, 8, 8), n_videos=2, frame_step=0.5)
    assert zoom != evaluate(trained, data, (4, 8, 8), n_videos=2)
    half = VideoDataset(data, 4, 8, 8, length=2, split="val", frame_step=0.5).batch([0, 1])
    full = VideoDataset(data, 8, 8, 8, length=2, split="val", frame_step=0.25).batch([0, 1])
    torch.testing.assert_close(half, full[:, :, ::2])  # the same clip: every other frame of a finer one
    assert Probe("tzoom", 8, 8, 8, frame_step=0.5).frame_step == 0.5
    with pytest.raises(ValueError, match="frame_step"):
        Probe("tzoom", 8, 8, 8, frame_step=0)
