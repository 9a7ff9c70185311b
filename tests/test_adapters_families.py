"""cogpe.adapters on the transformers diffusers ships under other class names: ConsisID (CogVideoX 1.0's
architecture; its pipeline feeds CogVideoX 1.0's tables), and the Wan-based Wan VACE and
SkyReels-V2 (their rotary module is Wan's: the same split, θ, float64 angles and ``(1, N, 1, D)``
tables), with the guarantees the three original families have — identity at the base grid under every
strategy, Wan's own integer positions under ``"extrapolate"`` everywhere, YaRN equal to an oracle that
scales q by hand and feeds the tables, every RoPE attention reached (VACE's control blocks too), their
own default presets — and a tiny pipeline run of each. Transformers left out are refused by class.
"""

from __future__ import annotations

import re

import pytest
import torch

import adapters_support as cs
import adapters_wan_hunyuan_support as wh
from adapters_support import one_thread  # noqa: F401 (autouse fixture)
from cogpe.adapters import BASE_GRIDS, SUPPORTED_TRANSFORMERS, use_strategy
from cogpe.adapters.families import DIFFUSERS_RANGE, _version, check_diffusers_version
from cogpe.adapters.tables import strategy_tables
from cogpe.strategy import ENCODINGS, Strategy

diffusers = wh.diffusers
DIFFUSERS = _version(diffusers.__version__)
# SkyReels-V2's rotary module returns (cos, sin) from diffusers 0.36; HunyuanVideo 1.5 arrived in 0.36;
# WanVACEPipeline takes prompt embeddings without a prompt from 0.36
NEWER = pytest.mark.skipif(DIFFUSERS < (0, 36, 0), reason=f"needs diffusers >= 0.36, {diffusers.__version__} here")
GRID = (5, 8, 12)  # about twice wh.BASE = (3, 4, 6) on every axis
VACE_CHANNELS = 4 * 2 + 8 * 8  # control latents: the video's (inactive, reactive) and the 8×8-pixel mask


def tiny_vace(seed: int = 0):
    """A 2-layer ``WanVACETransformer3DModel`` (head 20, as the tiny Wan) with one control block."""
    torch.manual_seed(seed)
    return diffusers.WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=wh.HEAD_DIM["wan"], in_channels=4,
        out_channels=4, text_dim=wh.TEXT_DIM, freq_dim=8, ffn_dim=16, num_layers=2, vace_layers=[0],
        vace_in_channels=VACE_CHANNELS,
    ).eval()


def tiny_skyreels(seed: int = 0):
    """A 2-layer ``SkyReelsV2Transformer3DModel`` (head 20)."""
    torch.manual_seed(seed)
    return diffusers.SkyReelsV2Transformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=wh.HEAD_DIM["wan"], in_channels=4,
        out_channels=4, text_dim=wh.TEXT_DIM, freq_dim=8, ffn_dim=16, num_layers=2,
    ).eval()


KINDS = {"vace": "vace", "skyreels": pytest.param("skyreels", marks=NEWER)}
FACTORIES = {"vace": tiny_vace, "skyreels": tiny_skyreels}


def run(model, grid, *, step: int = 500):
    """``model``'s output ``(1, 4, T, 2H, 2W)`` on seeded latents (and VACE's control latents) at token ``grid``."""
    t, h, w = grid
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(1, 4, t, 2 * h, 2 * w, generator=g)  # (B, C, F, H, W)
    text = torch.randn(1, wh.TEXT, wh.TEXT_DIM, generator=g)
    kw = {}
    if isinstance(model, diffusers.WanVACETransformer3DModel):
        kw["control_hidden_states"] = torch.randn(1, VACE_CHANNELS, t, 2 * h, 2 * w, generator=g)
    with torch.no_grad():
        return model(hidden, torch.tensor([step]), text, **kw).sample


def feeding(model, tables):
    """A forward hook making ``model.rope`` return ``tables`` ``(N, D)`` as Wan's ``(1, N, 1, D)``; remove it after."""
    cos, sin = (x.reshape(1, -1, 1, x.shape[-1]) for x in tables)
    return model.rope.register_forward_hook(lambda module, args, output: (cos, sin))


@pytest.mark.parametrize("kind", list(KINDS.values()))
def test_identity_at_the_base_grid_and_integer_positions_elsewhere(kind):
    model = FACTORIES[kind]()
    own, larger = run(model, wh.BASE), run(model, GRID)
    for name in ENCODINGS["rope"]:
        with use_strategy(model, name, base_grid=wh.BASE):
            assert torch.equal(run(model, wh.BASE), own), name
            if name == "extrapolate":
                assert torch.equal(run(model, GRID), larger)
    assert torch.equal(run(model, GRID), larger)  # removed


@pytest.mark.parametrize("kind", list(KINDS.values()))
def test_yarn_is_the_oracle_that_scales_q_and_feeds_its_tables(kind):
    """YaRN at 2×: the output of a copy whose q norms (every RoPE attention's, VACE's control blocks
    included) output m² times as much, fed YaRN's frequencies by hand, without cogpe.adapters."""
    model = FACTORIES[kind]()
    with use_strategy(model, "yarn", base_grid=wh.BASE) as handle:
        adapted = run(model, GRID)
        m2 = handle.q_scale(GRID)
        split = handle.model.split
    scaled = wh.query_scaled(model, m2)  # every "…attn1.norm_q": VACE's control blocks' too
    if kind == "vace":
        assert scaled.vace_blocks[0].attn1.norm_q.weight.equal(model.vace_blocks[0].attn1.norm_q.weight * m2)
    hook = feeding(scaled, strategy_tables(Strategy("yarn"), GRID, wh.BASE, split, kept_dtype=torch.float64))
    try:
        expected = run(scaled, GRID)
    finally:
        hook.remove()
    assert m2 > 1 and torch.allclose(adapted, expected, rtol=0, atol=1e-6)


@NEWER
def test_default_presets():
    with use_strategy(tiny_vace(), "ntk") as handle:  # Wan's sizes: VACE 14B is Wan 14B's
        assert handle.model.name == "Wan VACE" and handle.model.preset == "wan-14b"
    with use_strategy(tiny_skyreels(), "ntk") as handle:  # 121 frames at 720 × 1280, both orientations
        assert handle.model.name == "SkyReels-V2" and handle.base_grids == BASE_GRIDS["skyreels-v2-720p"].grids
        assert handle.base_grids == ((31, 45, 80), (31, 80, 45))
    assert BASE_GRIDS["skyreels-v2-540p"].grids == ((25, 34, 60), (25, 60, 34))  # 97 frames at 544 × 960
    torch.manual_seed(0)
    narrow = diffusers.SkyReelsV2Transformer3DModel(  # 1.3B-wide: 12 heads of 128, 540P only
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=4, out_channels=4,
        text_dim=8, freq_dim=8, ffn_dim=16, num_layers=1,
    )
    with use_strategy(narrow, "ntk") as handle:
        assert handle.model.preset == "skyreels-v2-540p"


def test_left_out_classes_say_why():
    """LTX-2 is refused by class, the message saying why (LEFT_OUT), whether given itself or held by a pipeline
    (skipped where the installed diffusers lacks the class)."""
    from types import SimpleNamespace

    from cogpe.adapters.families import LEFT_OUT

    ltx2 = getattr(diffusers, "LTX2VideoTransformer3DModel", None)
    if ltx2 is None:
        pytest.skip(f"diffusers {diffusers.__version__} has no LTX2VideoTransformer3DModel")
    torch.manual_seed(0)
    transformer = ltx2(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16,
                       audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
                       audio_attention_head_dim=8, audio_cross_attention_dim=16, num_layers=1, caption_channels=8)
    why = LEFT_OUT[type(transformer).__name__]
    assert "a strategy on the video grid alone would move the video against its audio" in why
    with pytest.raises(TypeError, match=rf"target is a {type(transformer).__name__}, which use_strategy does not "
                                        rf"support yet; supported transformers: .*{SUPPORTED_TRANSFORMERS[-1]}\. "
                                        + re.escape(why.split(";")[0])):
        use_strategy(transformer, "ntk")
    with pytest.raises(TypeError, match=r"has a transformer of class .*move the video against its audio"):
        use_strategy(SimpleNamespace(transformer=transformer), "ntk")


# --- pipelines ---------------------------------------------------------------------------------------------

CALL = dict(num_frames=17, height=128, width=192)  # 5 × 8 × 12 tokens


def tiny_vae():
    torch.manual_seed(0)
    return diffusers.AutoencoderKLWan(base_dim=4, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                      temperal_downsample=[False, True, True], latents_mean=[0.0] * 4,
                                      latents_std=[1.0] * 4).eval()


def tiny_pipeline(kind: str, transformer):
    if kind == "vace":
        pipeline = diffusers.WanVACEPipeline(tokenizer=None, text_encoder=None, vae=tiny_vae(),
                                             scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0),
                                             transformer=transformer)
    else:
        pipeline = diffusers.SkyReelsV2Pipeline(tokenizer=None, text_encoder=None, transformer=transformer,
                                                vae=tiny_vae(), scheduler=diffusers.UniPCMultistepScheduler())
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def generate(pipeline, **call):
    g = torch.Generator().manual_seed(2)
    embeds, negative = (torch.randn(1, wh.TEXT, wh.TEXT_DIM, generator=g) for _ in range(2))
    return pipeline(prompt_embeds=embeds, negative_prompt_embeds=negative, num_inference_steps=2,
                    generator=torch.Generator().manual_seed(0), output_type="latent", **call).frames


@NEWER
@pytest.mark.parametrize("kind", list(KINDS.values()))
def test_a_tiny_pipeline_at_twice_the_grid(kind):
    pipeline = tiny_pipeline(kind, FACTORIES[kind]())
    expected = generate(pipeline, **CALL)
    with use_strategy(pipeline, "extrapolate", base_grid=wh.BASE):  # the model's own integer positions
        assert torch.equal(generate(pipeline, **CALL), expected)
    for name in ("yarn", "riflex"):
        with use_strategy(pipeline, name, base_grid=wh.BASE):
            given = generate(pipeline, **CALL)
        assert given.shape == expected.shape and torch.isfinite(given).all()
        assert (given - expected).abs().max() > 1e-4, name
    with use_strategy(pipeline, "ntk", base_grid=wh.BASE):
        with pytest.raises(ValueError, match=r"num_frames=16 cannot be taken by .*: frames must be 4N\+1"):
            generate(pipeline, **{**CALL, "num_frames": 16})
    assert torch.equal(generate(pipeline, **CALL), expected)



# --- ConsisID: CogVideoX 1.0's architecture and pipeline tables, its own class ------------------------------


def tiny_consisid(seed: int = 0):
    """A 2-layer ``ConsisIDTransformer3DModel`` of the tiny CogVideoX's layout (RoPE, 8 input channels:
    latents and the reference image's), no face modules (``is_train_face=False``)."""
    torch.manual_seed(seed)
    return diffusers.ConsisIDTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=8,
        text_embed_dim=8, num_layers=2, sample_width=12, sample_height=8, sample_frames=9, patch_size=2,
        max_text_seq_length=cs.TEXT, use_rotary_positional_embeddings=True,
    ).eval()


def consisid_pipeline(transformer, vae=None):
    pipeline = diffusers.ConsisIDPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=transformer,
                                          scheduler=diffusers.CogVideoXDPMScheduler())
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_consisid_is_its_pipeline_at_the_trained_grid_under_every_strategy():
    pytest.importorskip("cv2")  # ConsisIDPipeline needs OpenCV (test extra)
    model = tiny_consisid()
    hidden, text, step = cs.inputs("1.0", cs.BASE, 1, 8, 500)
    grid_tables = consisid_pipeline(model)._prepare_rotary_positional_embeddings(64, 96, 3, torch.device("cpu"))
    with torch.no_grad():
        own = model(hidden, text, step, image_rotary_emb=grid_tables).sample
        for name in ENCODINGS["rope"]:
            with use_strategy(model, name) as handle:
                assert torch.equal(model(hidden, text, step).sample, own), name
    assert handle.model.name == "ConsisID" and handle.base_grids == (cs.BASE,)


def test_consisid_pipeline_at_twice_the_grid():
    pytest.importorskip("cv2")
    pipeline = consisid_pipeline(tiny_consisid(), cs.tiny_vae())
    image = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(3))
    positive, negative = cs.prompt_embeds()

    def generate(**call):
        return pipeline(image=image, prompt_embeds=positive, negative_prompt_embeds=negative, num_inference_steps=2,
                        generator=torch.Generator().manual_seed(0), output_type="latent", **call).frames

    call = dict(num_frames=17, height=128, width=192)
    expected = generate(**call)
    with use_strategy(pipeline, "linspace-crop-diffusers"):  # what its pipeline feeds, as CogVideoX 1.0's
        assert torch.equal(generate(**call), expected)
    with use_strategy(pipeline, "yarn"):
        given = generate(**call)
        with pytest.raises(ValueError, match=r"num_frames=16 cannot be taken by ConsisID: frames must be 8N\+1"):
            generate(**{**call, "num_frames": 16})
    assert given.shape == expected.shape and (given - expected).abs().max() > 1e-3
    assert torch.equal(generate(**call), expected)


# --- HunyuanVideo 1.5: HunyuanVideo's rotary arithmetic, trained on aspect-ratio buckets ---------------------


def tiny_hunyuan15(seed: int = 0, target_size: int = 64):
    """A 1-layer ``HunyuanVideo15Transformer3DModel`` (head 16, rope_axes_dim 4/4/8, patch 1), its
    training buckets those of ``target_size`` (64 px: 16 cells of 16 px)."""
    torch.manual_seed(seed)
    return diffusers.HunyuanVideo15Transformer3DModel(
        in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=16, num_layers=1,
        num_refiner_layers=1, patch_size=1, patch_size_t=1, text_embed_dim=8, text_embed_2_dim=8, image_embed_dim=8,
        rope_axes_dim=(4, 4, 8), target_size=target_size,
    ).eval()


def run15(model, grid):
    """``model``'s output at token ``grid`` (latents ``(1, 9, T, H, W)``: patch 1), seeded inputs."""
    t, h, w = grid
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(1, 9, t, h, w, generator=g)
    text, text_2 = torch.randn(1, 3, 8, generator=g), torch.randn(1, 2, 8, generator=g)
    with torch.no_grad():
        return model(hidden, torch.tensor([500.0]), text, torch.ones(1, 3, dtype=torch.bool),
                     encoder_hidden_states_2=text_2, encoder_attention_mask_2=torch.ones(1, 2, dtype=torch.bool),
                     image_embeds=torch.randn(1, 5, 8, generator=g)).sample


@NEWER
def test_hunyuanvideo15_buckets_are_its_pipelines():
    """The buckets, against diffusers' own function (the pipeline picks sizes from it)."""
    crop_sizes = pytest.importorskip("diffusers.pipelines.hunyuan_video1_5.image_processor").generate_crop_size_list
    from cogpe.adapters.presets import bucket_grids, bucket_sizes

    for target in (48, 64, 480, 720, 960):
        assert bucket_sizes(target) == tuple((h, w) for w, h in crop_sizes(base_size=target, patch_size=16))
    assert (31, 30, 30) in bucket_grids(480) and (31, 30, 30) == bucket_grids(480)[len(bucket_grids(480)) // 2]


@NEWER
def test_hunyuanvideo15_identity_yarn_oracle_and_its_buckets():
    model = tiny_hunyuan15()
    base, grid = (3, 4, 6), (5, 8, 12)
    own, larger = run15(model, base), run15(model, grid)
    for name in ENCODINGS["rope"]:
        with use_strategy(model, name, base_grid=base):
            assert torch.equal(run15(model, base), own), name
            if name == "extrapolate":
                assert torch.equal(run15(model, grid), larger)
    with use_strategy(model, "yarn", base_grid=base) as handle:
        adapted, m2, split = run15(model, grid), handle.q_scale(grid), handle.model.split
    scaled = wh.query_scaled(model, m2)  # the dual-stream blocks' norm_q and norm_added_q
    tables = strategy_tables(Strategy("yarn"), grid, base, split, 256.0)
    hook = scaled.rope.register_forward_hook(lambda module, args, output: tables)
    try:
        expected = run15(scaled, grid)
    finally:
        hook.remove()
    assert m2 > 1 and torch.allclose(adapted, expected, rtol=0, atol=1e-6)
    from cogpe.adapters.presets import bucket_grids

    with use_strategy(model, "ntk") as handle:  # by default: every bucket of its target_size, each its own base
        assert handle.model.name == "HunyuanVideo 1.5" and handle.base_grids == bucket_grids(64)
        for trained in handle.base_grids:
            cos, sin = model.rope(torch.zeros(1, 9, *trained))
            assert torch.equal(handle.tables(trained)[0], cos) and handle.q_scale(trained) == 1.0


@NEWER
def test_hunyuanvideo15_pipeline_at_twice_the_grid():
    from diffusers.guiders import ClassifierFreeGuidance

    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLHunyuanVideo15(latent_channels=4, block_out_channels=(8, 8, 8, 8, 8),
                                                layers_per_block=1).eval()
    pipeline = diffusers.HunyuanVideo15Pipeline(
        text_encoder=None, tokenizer=None, transformer=tiny_hunyuan15(), vae=vae,
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), text_encoder_2=None, tokenizer_2=None,
        guider=ClassifierFreeGuidance(guidance_scale=6.0),
    )
    pipeline.set_progress_bar_config(disable=True)
    g = torch.Generator().manual_seed(2)
    embeds = {}
    for sign in ("", "negative_"):
        embeds[f"{sign}prompt_embeds"] = torch.randn(1, 3, 8, generator=g)
        embeds[f"{sign}prompt_embeds_mask"] = torch.ones(1, 3, dtype=torch.long)
        embeds[f"{sign}prompt_embeds_2"] = torch.randn(1, 2, 8, generator=g)
        embeds[f"{sign}prompt_embeds_mask_2"] = torch.ones(1, 2, dtype=torch.long)

    def generate(**call):
        return pipeline(**embeds, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                        output_type="latent", **call).frames

    call = dict(num_frames=9, height=128, width=192)  # 16× VAE, patch 1: 3 × 8 × 12 tokens
    expected = generate(**call)
    with use_strategy(pipeline, "extrapolate"):
        assert torch.equal(generate(**call), expected)
    with use_strategy(pipeline, "yarn", base_grid=(3, 4, 6)):
        given = generate(**call)
        with pytest.raises(ValueError, match=r"height=120 is not a multiple of 16"):
            generate(**{**call, "height": 120})
    assert given.shape == expected.shape and (given - expected).abs().max() > 1e-3
    assert torch.equal(generate(**call), expected)


# --- diffusers versions -------------------------------------------------------------------------------------


def test_older_diffusers_are_refused_naming_the_version_to_install(monkeypatch):
    """Before 0.35 Wan's rotary module returned one complex tensor (SkyReels-V2's before 0.36): the hooks
    would feed the attention tables of the wrong form, so the call is refused, naming the version."""
    check_diffusers_version(DIFFUSERS_RANGE[0])
    check_diffusers_version("0.36.0.dev0", "SkyReelsV2Transformer3DModel")
    with pytest.raises(RuntimeError, match=r"cogpe.adapters needs diffusers >= 0.35.0, .* diffusers 0.33.1 is "
                                           r"installed: pip install -U 'diffusers>=0.35.0'"):
        check_diffusers_version("0.33.1")
    with pytest.raises(RuntimeError, match=r"SkyReelsV2Transformer3DModel needs diffusers >= 0.36.0"):
        check_diffusers_version("0.35.2", "SkyReelsV2Transformer3DModel")
    monkeypatch.setattr(diffusers, "__version__", "0.32.2")
    with pytest.raises(RuntimeError, match=r"needs diffusers >= 0.35.0.*diffusers 0.32.2 is installed"):
        use_strategy(wh.tiny("wan", layers=1), "ntk")
