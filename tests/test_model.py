"""Chapter 7's model: patchify is a bijection, one model runs at every grid, and each PE strategy is the
``cogpe`` function it names — strategies of a family agree at the base grid and differ beyond it."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cogpe import resample_table, resample_table_3d, scaled_rope_3d, sincos_3d
from cogpe.model import FAMILIES, STRATEGIES, ModelConfig, VideoDiT, patchify, strategy_family, unpatchify

BASE = (2, 2, 3)  # token grid (T0, H0, W0) of the tiny models; patch (1, 4, 4) -> 2 x 8 x 12 pixels
PATCH = (1, 4, 4)


def tiny(strategy: str = "rope-extrapolate", **kw) -> ModelConfig:
    return ModelConfig(strategy=strategy, width=32, depth=2, heads=2, patch=PATCH, base_grid=BASE, **kw)


def randomized(model: VideoDiT, seed: int = 0) -> VideoDiT:
    """Give every parameter (the zero-initialised gates too) random values, so every path matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.ndim > 1 else 0.1) + (1.0 if name.endswith("norm.weight") else 0.0))
    return model


def video(b: int, grid, seed: int = 1) -> torch.Tensor:
    t, h, w = grid
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, t * PATCH[0], h * PATCH[1], w * PATCH[2], generator=g)


LEVELS = torch.tensor([0.3, 0.8])


# --- patchify ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(grid=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
       patch=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)), c=st.integers(1, 3))
def test_patchify_is_a_bijection_in_token_major_order(grid, patch, c):
    t, h, w = grid
    pt, ph, pw = patch
    x = torch.randn(2, c, t * pt, h * ph, w * pw)
    tokens = patchify(x, patch)
    assert tokens.shape == (2, t * h * w, pt * ph * pw * c)
    assert torch.equal(unpatchify(tokens, grid, patch, c), x)
    # literal: token (i, j, k) is row (i*H + j)*W + k and holds x[:, :, patch box] ordered (pt, ph, pw, C)
    i, j, k = t - 1, h // 2, w - 1
    box = x[:, :, i * pt:(i + 1) * pt, j * ph:(j + 1) * ph, k * pw:(k + 1) * pw]  # (B, C, pt, ph, pw)
    assert torch.equal(tokens[:, (i * h + j) * w + k], box.permute(0, 2, 3, 4, 1).reshape(2, -1))


# --- one model, every grid --------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_any_grid_same_model_and_state_dict(strategy):
    model = randomized(VideoDiT(tiny(strategy)))
    keys = {k: v.shape for k, v in model.state_dict().items()}
    for grid in [BASE, (2, 4, 6), (3, 2, 3), (1, 1, 1), (4, 5, 2)]:
        x = video(2, grid)
        out = model(x, LEVELS)
        assert out.shape == x.shape and torch.isfinite(out).all()
    assert {k: v.shape for k, v in model.state_dict().items()} == keys  # nothing grid-dependent is saved
    # a state dict saved after running at a large grid loads into a fresh model: the same function
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    fresh = VideoDiT(tiny(strategy))
    fresh.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    x = video(1, (2, 4, 6))
    torch.testing.assert_close(fresh(x, LEVELS[:1]), model(x, LEVELS[:1]), atol=0, rtol=0)


def test_untrained_model_predicts_zero():
    """AdaLN-zero: gates and the output layer start at zero."""
    model = VideoDiT(tiny("sincos-extrapolate"))
    assert torch.equal(model(video(2, (2, 3, 3)), LEVELS), torch.zeros_like(video(2, (2, 3, 3))))


def test_videos_in_a_batch_do_not_interact():
    model = randomized(VideoDiT(tiny("rope-yarn")))
    x = video(3, (2, 4, 6))
    t = torch.tensor([0.1, 0.5, 0.9])
    together = model(x, t)
    alone = model(x[1:2], t[1:2])
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=1e-5)


def test_timestep_changes_the_output():
    model = randomized(VideoDiT(tiny()))
    x = video(1, BASE)
    assert not torch.allclose(model(x, torch.tensor([0.2])), model(x, torch.tensor([0.7])))


# --- strategies are the cogpe functions they name ---------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_family_agrees_at_the_base_grid_and_below(family):
    members = FAMILIES[family]
    reference = randomized(VideoDiT(tiny(members[0])))
    state = reference.state_dict()
    for grid in [BASE, (1, 2, 2), (2, 1, 3)]:  # s <= 1 on every axis: nothing to rescale
        x = video(2, grid)
        expected = reference(x, LEVELS)
        for strategy in members[1:]:
            model = VideoDiT(tiny(strategy))
            model.load_state_dict(state)
            torch.testing.assert_close(model(x, LEVELS), expected, atol=1e-6, rtol=1e-6)


def test_strategies_differ_beyond_the_base_grid():
    outputs = {}
    x = video(1, (8, 4, 6))  # s_t = 4: RIFLEx lowers θ_0 of t to 2π/8 (it never raises one)
    for family, members in FAMILIES.items():
        state = randomized(VideoDiT(tiny(members[0]))).state_dict()
        for strategy in members:
            model = VideoDiT(tiny(strategy))
            model.load_state_dict(state)
            outputs[strategy] = model(x, LEVELS[:1])
    for family, members in FAMILIES.items():
        for a in members:
            for b in members:
                if a < b:
                    assert not torch.allclose(outputs[a], outputs[b], atol=1e-4), (a, b)


@pytest.mark.parametrize("strategy", FAMILIES["rope"])
def test_rope_tables_come_from_cogpe_scaling(strategy):
    model = VideoDiT(tiny(strategy))
    grid = (4, 4, 9)
    cos, sin = model.rope(grid)
    ref_cos, ref_sin = scaled_rope_3d(16, grid, BASE, strategy.removeprefix("rope-"))
    torch.testing.assert_close(cos, ref_cos, atol=0, rtol=0)
    torch.testing.assert_close(sin, ref_sin, atol=0, rtol=0)


def test_sincos_table_enters_the_model_additively():
    model = randomized(VideoDiT(tiny("sincos-extrapolate")))
    x = video(1, BASE)
    captured = {}
    model.blocks[0].register_forward_pre_hook(lambda m, args: captured.update(tokens=args[0].detach()))
    model(x, LEVELS[:1])
    expected = model.embed(patchify(x, PATCH)) + sincos_3d(32, BASE)
    torch.testing.assert_close(captured["tokens"], expected, atol=1e-6, rtol=1e-6)


def test_strategy_family():
    assert {strategy_family(s) for s in STRATEGIES} == set(FAMILIES)
    assert len(STRATEGIES) == 8 and "learned-resample" in STRATEGIES


# --- bad input ------------------------------------------------------------------------------------------


def test_size_not_divisible_by_patch_names_the_fix():
    model = VideoDiT(tiny())
    with pytest.raises(ValueError, match=r"height=10 is not divisible by the patch size 4 .* use e.g. height=8 or 12"):
        model(torch.zeros(1, 3, 2, 10, 12), LEVELS[:1])
    with pytest.raises(ValueError, match="x has 1 channels but the model expects in_channels=3"):
        model(torch.zeros(1, 1, 2, 8, 12), LEVELS[:1])
    with pytest.raises(ValueError, match=r"x must be a video batch \(B, C, T, H, W\)"):
        model(torch.zeros(3, 2, 8, 12), LEVELS[:1])
    with pytest.raises(ValueError, match="one noise level per video"):
        model(torch.zeros(2, 3, 2, 8, 12), LEVELS[:1])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(strategy="rope-pi"), ValueError, "unknown strategy 'rope-pi'; valid: 'sincos-extrapolate'"),
        (dict(width=40), ValueError, "width=40 cannot hold"),
        (dict(width=96, heads=4), ValueError, "head_dim = width/heads = 24 cannot split"),
        (dict(width=64, heads=3), ValueError, "not divisible by heads=3"),
        (dict(patch=(1, 0, 4)), ValueError, r"patch\[1\] \(H\) must be an integer >= 1"),
        (dict(base_grid=(2, 2)), ValueError, "base_grid must have 3 entries"),
    ],
)
def test_bad_model_config(kwargs, error, match):
    with pytest.raises(error, match=match):
        ModelConfig(**kwargs)


def test_model_needs_a_base_grid():
    with pytest.raises(ValueError, match="base_grid is None; set base_grid="):
        VideoDiT(ModelConfig())
    # a sincos model with a head_dim RoPE could not split is fine: it has no RoPE
    ModelConfig(strategy="sincos-extrapolate", width=96, heads=4, base_grid=BASE)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch while compiling
def test_a_compiled_rope_model_computes_what_the_eager_one_does(compiled_available):
    """``torch.compile`` of a RoPE model at a size where eager ``apply_rope`` uses its cached complex table
    (``TrainConfig.compile`` on a real grid): outputs and parameter gradients equal eager ones."""
    model = randomized(VideoDiT(ModelConfig(width=64, depth=1, heads=1, patch=(1, 2, 2), base_grid=(4, 8, 8),
                                            strategy="rope-extrapolate")))
    torch.manual_seed(0)
    x, t = torch.randn(4, 3, 4, 16, 16), torch.rand(4)  # q: 4 videos x 1 head x 256 tokens x 64 channels
    grads = []
    for forward in (model, torch.compile(model)):
        model.zero_grad(set_to_none=True)
        out = forward(x, t)
        out.square().mean().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    (eager, eager_grads), (compiled, compiled_grads) = grads
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    for got, want in zip(compiled_grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)


# --- arithmetic under autocast (chapter 7's GPU path) ----------------------------------------------------------


def test_time_embedding_is_sincos_1d_of_1000_t():
    """The model's timestep table is :func:`cogpe.sincos_1d` of ``1000·t``, bit for bit (computed without
    its finiteness check, which would wait for a GPU at every step)."""
    from cogpe import sincos_1d

    model = VideoDiT(tiny("sincos-extrapolate", theta=500.0))
    t = torch.tensor([0.0, 0.3, 0.999, 1.0])
    assert torch.equal(model._time_embedding(t), sincos_1d(t.double() * 1000.0, 32, 500.0))


@pytest.mark.parametrize("strategy", ["rope-yarn", "sincos-interpolate"])
def test_the_residual_stream_stays_float32_under_bf16_autocast(strategy):
    """Under bf16 autocast (CPU autocast has it, like a GPU's) every block receives and returns float32
    tokens: the layers compute in bf16, the running sum does not round to bf16's 8 bits. The output then
    follows the float32 model to within bf16's rounding of the layers."""
    model = randomized(VideoDiT(tiny(strategy)))
    dtypes = []
    hooks = [b.register_forward_hook(lambda m, args, out: dtypes.append((args[0].dtype, out.dtype)))
             for b in model.blocks]
    x, grid = video(2, (3, 3, 4)), (3, 3, 4)
    with torch.no_grad():
        exact = model(x, LEVELS)
        dtypes.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            approx = model(x, LEVELS)
    for h in hooks:
        h.remove()
    assert dtypes == [(torch.float32, torch.float32)] * len(model.blocks), grid
    error = (approx.float() - exact).norm() / exact.norm()
    assert error < 0.03, float(error)
