"""cogpe.adapters.use_strategy on whole diffusers pipelines: a tiny run per model family, start to finish.

Each test builds the family's real pipeline class around tiny models (random weights from configs, no
download, no tokenizer or text encoder: prompt embeddings are passed in), runs 2 denoising steps at
about twice the training grid in frames and size, and compares the latents it returns:

- under the strategy that reproduces the pipeline's own positions they are the unpatched pipeline's,
  bit for bit, at the same seed;
- under YaRN and RIFLEx (new frequencies at scale 2) they differ, with the same shape;
- after the handle is removed the pipeline gives its unpatched latents again.
"""

from __future__ import annotations

import inspect

import pytest
import torch

import adapters_wan_hunyuan_support as wh
from adapters_support import (
    BASE_KW,
    count_prompt_encodings,
    diffusers,
    generate,
    one_thread,  # noqa: F401 (autouse fixture)
    tiny_pipeline,
    tiny_transformer,
)
from cogpe.adapters import use_strategy

# --- CogVideoX: one pipeline class, 1.0 and 1.5 told apart by the transformer's patch_size_t ----------------

# Training grid 3×4×6 tokens (tests/adapters_support.py). About twice it: 1.0 takes 8N+1 frames, 17 →
# 5 latent frames = 5 tokens; 1.5 takes 16N+1, 33 → 9 latent, padded to 10 → 5 tokens; 128×192 pixels →
# 16×24 latent → 8×12 tokens.
COGVIDEOX_CALLS = {"1.0": dict(num_frames=17, height=128, width=192), "1.5": dict(num_frames=33, height=128, width=192)}
COGVIDEOX_LATENTS = {"1.0": (1, 5, 4, 16, 24), "1.5": (1, 10, 4, 16, 24)}  # 1.5's latents keep the padding frame
# The strategy giving each pipeline's own positions: 1.0's linspace over the crop region (diffusers >= 0.32),
# 1.5's integer positions.
COGVIDEOX_OWN = {"1.0": "linspace-crop-diffusers", "1.5": "extrapolate"}


@pytest.mark.parametrize("version", ["1.0", "1.5"])
def test_cogvideox_pipeline_at_twice_the_grid(version):
    # DDIM for 1.0, the multistep DPM solver for 1.5: both of CogVideoXPipeline's scheduler paths
    scheduler = diffusers.CogVideoXDDIMScheduler() if version == "1.0" else diffusers.CogVideoXDPMScheduler()
    pipeline = tiny_pipeline(tiny_transformer(version), scheduler)
    call, kw = COGVIDEOX_CALLS[version], BASE_KW[version]
    expected = generate(pipeline, **call)
    assert expected.shape == COGVIDEOX_LATENTS[version]
    with use_strategy(pipeline, COGVIDEOX_OWN[version], **kw):
        assert torch.equal(generate(pipeline, **call), expected)
    for name in ("yarn", "riflex"):
        with use_strategy(pipeline, name, **kw):
            given = generate(pipeline, **call)
        assert given.shape == expected.shape and torch.isfinite(given).all()
        assert (given - expected).abs().max() > 1e-3, name
    assert torch.equal(generate(pipeline, **call), expected)


def test_cogvideox_1_5_runs_beyond_the_cap_its_config_puts_on_the_pipeline():
    """Released CogVideoX 1.5 configs say sample 96×170, so its pipeline slices integer positions from a
    48×85-token table and fails (a size mismatch) at portrait 1360×768. Here: sample 8×12 latent → 4×6 tokens, a portrait
    96×64 call → 6×4 tokens. Unpatched it fails; under the adapter it runs, with the integer positions a
    large enough table gives (the same weights, sample 40×40), bit for bit; removed, it fails again."""
    small = tiny_transformer("1.5", sample_hw=(8, 12))
    large = tiny_transformer("1.5", sample_hw=(40, 40))
    large.load_state_dict(small.state_dict())
    call = dict(num_frames=17, height=96, width=64)
    pipeline = tiny_pipeline(small)
    with pytest.raises(RuntimeError, match="(Sizes of tensors must match|expand)"):
        generate(pipeline, **call)
    expected = generate(tiny_pipeline(large), **call)
    with use_strategy(pipeline, "extrapolate") as handle:
        assert handle.base_grid == (3, 4, 6)  # read from the config: 17 frames → 3, 8×12 latent → 4×6
        assert torch.equal(generate(pipeline, **call), expected)
    with pytest.raises(RuntimeError, match="(Sizes of tensors must match|expand)"):
        generate(pipeline, **call)


def test_cogvideox_1_5_image_to_video_scales_from_both_orientations():
    """1.5-I2V (twice the latent channels in) allows either orientation: its config grid and the transpose
    are both bases, each its own; a T2V model keeps the one config grid."""
    image = tiny_transformer("1.5", sample_hw=(8, 12), image=True)
    with use_strategy(image, "yarn") as handle:
        assert handle.base_grids == ((3, 4, 6), (3, 6, 4))
        assert handle.base_grid_at((3, 6, 4)) == (3, 6, 4) and handle.q_scale((3, 6, 4)) == 1.0
        assert handle.base_grid_at((3, 12, 8)) == (3, 6, 4) and handle.q_scale((3, 12, 8)) > 1.0
    with use_strategy(tiny_transformer("1.5", sample_hw=(8, 12)), "yarn") as handle:
        assert handle.base_grids == ((3, 4, 6),) and handle.q_scale((3, 6, 4)) > 1.0


# --- Wan and HunyuanVideo: the transformer builds its own tables; integer positions at every size ------------

# Trained (here: base_grid) on 3×4×6 tokens = 9 frames at 64×96. About twice it: 17 frames → 5 latent
# frames = 5 tokens; 128×192 pixels → 16×24 latent → 8×12 tokens. Latents (B, C, F, H, W).
CALL = dict(num_frames=17, height=128, width=192)


@pytest.mark.parametrize("family", wh.FAMILIES)
def test_wan_and_hunyuan_pipelines_at_twice_the_grid(family):
    pipeline = wh.tiny_pipeline(family, wh.tiny(family))
    expected = wh.generate(pipeline, **CALL)
    assert expected.shape == (1, 4, 5, 16, 24)
    with use_strategy(pipeline, "extrapolate", base_grid=wh.BASE):  # the models' own integer positions
        assert torch.equal(wh.generate(pipeline, **CALL), expected)
    for name in ("yarn", "riflex"):
        with use_strategy(pipeline, name, base_grid=wh.BASE):
            given = wh.generate(pipeline, **CALL)
        assert given.shape == expected.shape and torch.isfinite(given).all()
        assert (given - expected).abs().max() > 1e-3, name
    assert torch.equal(wh.generate(pipeline, **CALL), expected)


def test_wan_2_2_pipeline_adapts_both_experts():
    if "transformer_2" not in inspect.signature(diffusers.WanPipeline.__init__).parameters:
        pytest.skip(f"diffusers {diffusers.__version__}'s WanPipeline has no second expert (Wan 2.2: diffusers >= 0.35)")
    """Wan 2.2 A14B: a high-noise ``transformer`` and a low-noise ``transformer_2``, switched at
    ``boundary_ratio`` (here after the first of 2 steps). One handle adapts both; each is then busy."""
    high, low = wh.tiny("wan", seed=0), wh.tiny("wan", seed=1)
    pipeline = wh.tiny_wan_pipeline(high, low, boundary_ratio=0.9)
    calls = {"high": 0, "low": 0}
    for name, module in (("high", high), ("low", low)):
        module.register_forward_pre_hook(lambda mod, args, name=name: calls.__setitem__(name, calls[name] + 1))
    expected = wh.generate(pipeline, **CALL)
    assert calls == {"high": 2, "low": 2}  # one step each, with and without the prompt (guidance)
    with use_strategy(pipeline, "extrapolate", base_grid=wh.BASE):
        assert torch.equal(wh.generate(pipeline, **CALL), expected)
    with use_strategy(pipeline, "yarn", base_grid=wh.BASE) as handle:
        assert handle.transformers == (high, low)
        with pytest.raises(RuntimeError, match="already runs"):
            use_strategy(low, "ntk", base_grid=wh.BASE)
        both = wh.generate(pipeline, **CALL)
    with use_strategy(high, "yarn", base_grid=wh.BASE):  # the high-noise expert alone
        high_only = wh.generate(pipeline, **CALL)
    assert not torch.equal(both, high_only) and not torch.equal(high_only, expected)
    assert torch.equal(wh.generate(pipeline, **CALL), expected)


@pytest.mark.parametrize("family, name", [("wan", "Wan"), ("hunyuan", "HunyuanVideo")])
@pytest.mark.parametrize(
    "call, message",
    [
        ({"num_frames": 16}, r"num_frames=16 cannot be taken by {}: frames must be 4N\+1 \(e.g. 13 or 17\)"),
        ({"height": 100}, r"height=100 is not a multiple of 16 \(VAE scale 8 × patch_size 2\); use e.g. 96 or 112"),
        ({"width": 200}, r"width=200 is not a multiple of 16 .* 192 or 208"),
    ],
)
def test_wan_and_hunyuan_calls_they_cannot_take_are_refused_before_anything_runs(family, name, call, message):
    """WanPipeline would round 16 frames down to 13 with a warning; under a strategy the call is refused,
    naming valid counts, before the prompt is encoded."""
    pipeline = wh.tiny_pipeline(family, wh.tiny(family, layers=1))
    encoded = count_prompt_encodings(pipeline)
    with use_strategy(pipeline, "ntk", base_grid=wh.BASE):
        with pytest.raises(ValueError, match=message.format(name)):
            wh.generate(pipeline, **{**CALL, **call})
        assert encoded == [0]
        wh.generate(pipeline, **CALL)
        assert encoded == [1]


def test_a_wan_call_beyond_rope_max_seq_len_is_refused_before_anything_runs():
    pipeline = wh.tiny_wan_pipeline(wh.tiny("wan", layers=1, rope_max_seq_len=10))
    encoded = count_prompt_encodings(pipeline)
    with use_strategy(pipeline, "ntk", base_grid=wh.BASE):
        with pytest.raises(ValueError, match=r"grid \(5, 8, 12\) has 12 tokens along W, more than Wan's rotary"):
            wh.generate(pipeline, **CALL)
    assert encoded == [0]
