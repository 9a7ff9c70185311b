"""cogpe.adapters at the boundary: default base grids read from configs, and bad input refused before
anything runs — each message names the argument, the value and the valid choices."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from adapters_support import (
    BASE,
    TEXT,
    CogVideoXPipeline,
    count_prompt_encodings,
    generate,
    one_thread,  # noqa: F401 (autouse fixture)
    pipeline_tables,
    run,
    tiny_pipeline,
    tiny_transformer,
)
from cogpe.adapters import trained_grid, use_strategy
from cogpe.cogvideox import token_grid
from cogpe.strategy import ENCODINGS, Strategy

# The position fields of the released transformer configs (as diffusers'
# scripts/convert_cogvideox_to_diffusers.py writes them; 5B-I2V 1.0 shares 5B's, 1.5-I2V 1.5's).
COGVIDEOX_5B = {"sample_frames": 49, "sample_height": 60, "sample_width": 90, "patch_size": 2,
                "patch_size_t": None, "temporal_compression_ratio": 4}
COGVIDEOX_15_5B = {"sample_frames": 81, "sample_height": 300, "sample_width": 300, "patch_size": 2,
                   "patch_size_t": 2, "temporal_compression_ratio": 4}


# --- default base grids ------------------------------------------------------------------------------------


def test_default_base_grid_of_cogvideox_1_0_is_its_training_grid():
    """49 frames at 480×720: 13×30×45 tokens, the grid cogpe's preset (and SAT) build for 5B."""
    assert trained_grid(COGVIDEOX_5B) == (13, 30, 45) == token_grid("cogvideox-5b")
    assert trained_grid({k: v for k, v in COGVIDEOX_5B.items() if k not in ("patch_size_t", "temporal_compression_ratio")}) == (13, 30, 45)


def test_default_base_grid_of_cogvideox_1_5_is_its_slice_table():
    """81 frames → 21 latent → padded to 22 → 11 tokens; 300×300 latent is the table the pipeline slices
    from (150×150 tokens), not the 768×1360 training resolution (48×85), which is passed explicitly."""
    assert trained_grid(COGVIDEOX_15_5B) == (11, 150, 150)
    assert token_grid("cogvideox1.5-5b") == (11, 48, 85)


def test_handles_report_their_base_grid():
    transformer = tiny_transformer("1.0", layers=1)
    with use_strategy(transformer, "ntk") as handle:
        assert handle.base_grid == BASE and handle.model.name == "CogVideoX 1.0"
        assert "Strategy('ntk')" in repr(handle) and "active" in repr(handle)
    assert "removed" in repr(handle)
    with use_strategy(tiny_transformer("1.5", layers=1), "ntk", base_grid=[3, 4, 6]) as handle:
        assert handle.base_grid == BASE and handle.model.name == "CogVideoX 1.5"


def test_importing_the_adapters_does_not_import_diffusers():
    code = "import sys, cogpe.adapters\nassert 'diffusers' not in sys.modules, 'diffusers imported'\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- bad targets and models ------------------------------------------------------------------------------


class Holder:
    def __init__(self, transformer):
        self.transformer = transformer


@pytest.mark.parametrize(
    "target, message",
    [
        (object(), r"target must be a diffusers pipeline .* got object; supported transformers: CogVideoXTransformer3DModel"),
        ("CogVideoX-5b", r"target must be .* got str"),
        (torch.nn.Linear(2, 2), r"target is a Linear, which use_strategy does not support yet; supported transformers: CogVideoXTransformer3DModel"),
        (Holder(torch.nn.Linear(2, 2)), r"target Holder has a transformer of class Linear, .* not support yet; supported transformers: CogVideoXTransformer3DModel"),
    ],
    ids=["object", "str", "module", "pipeline-of-module"],
)
def test_unknown_targets_are_refused(target, message):
    with pytest.raises(TypeError, match=message):
        use_strategy(target, "ntk")


# --- bad strategies and base grids ---------------------------------------------------------------------------

VALID = ", ".join(map(repr, ENCODINGS["rope"]))


@pytest.mark.parametrize(
    "strategy, options, error, message",
    [
        ("resample", {}, ValueError, r"strategy='resample' cannot be used by CogVideoX 1.0.*learned table.*valid strategies: "),
        ("bicubic", {}, ValueError, r"strategy='bicubic' cannot be used by CogVideoX 1.0.*valid strategies: "),
        (Strategy("resample"), {}, ValueError, r"strategy='resample'.*valid strategies: "),
        ({"rope_type": "longrope"}, {}, ValueError, r"unknown rope_type 'longrope'; valid: 'default', 'linear'"),
        ("ntk", {"riflex_k": 1}, TypeError, r"strategy 'ntk' takes no option riflex_k=1"),
        ("riflex", {"riflex_k": 2}, ValueError, r"riflex_k\[0\] \(t\)"),  # the t axis has 2 pairs (4 channels)
        (42, {}, TypeError, r"strategy must be a string"),
    ],
    ids=["resample", "unknown", "Strategy-resample", "rope_scaling", "foreign-option", "riflex_k", "int"],
)
def test_strategies_the_model_cannot_use_are_refused(strategy, options, error, message):
    with pytest.raises(error, match=message) as info:
        use_strategy(tiny_transformer("1.0", layers=1), strategy, **options)
    if "valid strategies" in message:
        assert str(info.value).endswith(VALID)


@pytest.mark.parametrize(
    "base_grid, error, message",
    [
        ((3, 4), ValueError, r"base_grid must have 3 entries ordered \(T, H, W\), got 2"),
        ((3, 0, 6), ValueError, r"base_grid\[1\] \(H\) must be an integer >= 1, got 0"),
        ((3, 4.5, 6), TypeError, r"base_grid\[1\] \(H\) must be an integer \(number of tokens\), got 4.5"),
        ("346", ValueError, r"base_grid='346' is not a preset; CogVideoX presets: 'cogvideox-5b', .*or pass a grid \(T, H, W\)"),
        ("wan-480p", ValueError, r"base_grid='wan-480p' is a Wan preset, but the model is CogVideoX; CogVideoX presets: "),
        ([3, 4, 6, 1], ValueError, r"base_grid must have 3 entries"),
    ],
)
def test_bad_base_grids_are_refused(base_grid, error, message):
    with pytest.raises(error, match=message):
        use_strategy(tiny_transformer("1.0", layers=1), "ntk", base_grid=base_grid)


def test_a_refused_application_leaves_nothing_behind():
    transformer = tiny_transformer("1.0", layers=1)
    expected = run(transformer, "1.0", (3, 8, 12), pipeline_tables(transformer, "1.0", (3, 8, 12)))
    with pytest.raises(ValueError):
        use_strategy(transformer, "resample")
    with pytest.raises(ValueError):
        use_strategy(transformer, "ntk", base_grid=(0, 1, 1))
    assert torch.equal(run(transformer, "1.0", (3, 8, 12), pipeline_tables(transformer, "1.0", (3, 8, 12))), expected)
    with use_strategy(transformer, "ntk"):  # nothing is registered as active
        pass


# --- what a pipeline or a transformer is called with ----------------------------------------------------------


@pytest.mark.parametrize(
    "version, call, message",
    [
        ("1.0", {"num_frames": 50}, r"num_frames=50 cannot be taken by CogVideoX 1.0: frames must be 8N\+1 \(e.g. 49 or 57\)"),
        ("1.0", {"num_frames": 13}, r"num_frames=13 .* 8N\+1 \(e.g. 9 or 17\)"),
        ("1.5", {"num_frames": 45}, r"num_frames=45 cannot be taken by CogVideoX 1.5: frames must be 16N\+1 \(e.g. 33 or 49\)"),
        ("1.0", {"height": 100}, r"height=100 is not a multiple of 16 \(VAE scale 8 × patch_size 2\); use e.g. 96 or 112"),
        ("1.5", {"width": 200, "num_frames": 17}, r"width=200 is not a multiple of 16 .* 192 or 208"),
        ("1.0", {"num_frames": 9.0}, r"num_frames must be an integer \(frames\), got 9.0"),
    ],
)
def test_pipeline_calls_the_model_cannot_take_are_refused_before_anything_runs(version, call, message):
    pipeline = tiny_pipeline(tiny_transformer(version, layers=1))
    encoded = count_prompt_encodings(pipeline)
    error = TypeError if isinstance(call.get("num_frames"), float) else ValueError
    with use_strategy(pipeline, "ntk", base_grid=BASE):
        with pytest.raises(error, match=message):
            generate(pipeline, **call)
        assert encoded == [0]
        generate(pipeline)  # the config's defaults are valid
        assert encoded == [1]
    assert type(pipeline) is CogVideoXPipeline


def test_a_crop_strategy_that_cannot_place_the_grid_is_refused_at_the_call():
    pipeline = tiny_pipeline(tiny_transformer("1.0", layers=1))
    encoded = count_prompt_encodings(pipeline)
    with use_strategy(pipeline, "linspace-crop-diffusers"):
        with pytest.raises(ValueError, match=r"linspace-crop-diffusers cannot fit grid \(H, W\)=\(1, 40\)"):
            generate(pipeline, height=16, width=640)
    assert encoded == [0]


@pytest.mark.parametrize(
    "version, shape, message",
    [
        ("1.0", (1, 3, 4, 8, 5), r"latent width W=5 is not a multiple of patch_size=2"),
        ("1.0", (1, 3, 4, 7, 12), r"latent height H=7 is not a multiple of patch_size=2"),
        ("1.5", (1, 3, 4, 8, 12), r"3 latent frames are not a multiple of patch_size_t=2.*pad"),
        ("1.0", (3, 4, 8, 12), r"hidden_states must be latents \(B, F, C, H, W\), got shape \(3, 4, 8, 12\)"),
    ],
)
def test_latents_the_transformer_cannot_patchify_are_refused_by_the_hook(version, shape, message):
    transformer = tiny_transformer(version, layers=1)
    with use_strategy(transformer, "ntk", base_grid=BASE):
        with pytest.raises(ValueError, match=message):
            transformer(torch.zeros(shape), torch.zeros(1, TEXT, 8), torch.tensor([1]))
