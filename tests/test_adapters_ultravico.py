"""cogpe.adapters.ultravico: UltraViCo's decay of the logits between tokens further apart in time than
training saw (eq. ultravico), against a dense reference that applies the decay literally, pair by pair,
in float64; the identity at the trained length; what the decay does to the attention's mass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cogpe.adapters.ultravico import UltraViCo, damp_logits, outside_window, token_frames, ultravico_attention


def qkv(grid, text=0, *, batch=2, heads=3, dim=8, seed=0, dtype=torch.float32):
    """Seeded query, key, value ``(B, heads, text + T*H*W, dim)``, scaled so that logits of both signs are large."""
    g = torch.Generator().manual_seed(seed)
    n = text + math.prod(grid)
    return tuple((2 * torch.randn(batch, heads, n, dim, generator=g)).to(dtype) for _ in range(3))


def literal(query, key, value, frames_q, frames_k, alpha, window, scale=None):
    """Eq. ultravico written out in numpy float64: every logit, damped or not one by one, then a softmax per row."""
    q, k, v = (x.double().numpy() for x in (query, key, value))
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    out = np.empty(q.shape[:3] + (v.shape[-1],))
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            for i in range(q.shape[2]):
                logits = np.array([scale * float(q[b, h, i] @ k[b, h, j]) for j in range(k.shape[2])])
                for j, s in enumerate(logits):
                    ti, tj = int(frames_q[i]), int(frames_k[j])
                    if ti >= 0 and tj >= 0 and abs(ti - tj) >= window and s > 0:
                        logits[j] = alpha * s
                weights = np.exp(logits - logits.max())
                out[b, h, i] = (weights / weights.sum()) @ v[b, h]
    return out


@pytest.mark.parametrize("grid, text, alpha, window", [((5, 2, 3), 3, 0.7, 3), ((7, 1, 2), 0, 0.9, 2),
                                                       ((4, 3, 1), 2, 0.3, 1), ((6, 2, 2), 4, 0.5, 4)])
def test_equals_the_decay_applied_literally(grid, text, alpha, window):
    """Text before the video (CogVideoX, HunyuanVideo), odd and non-square grids, window 1 (every other frame
    damped) to T − 2; equal to float32 rounding, whatever the chunk of queries."""
    query, key, value = qkv(grid, text)
    frames = token_frames(grid, text)
    expected = literal(query, key, value, frames, frames, alpha, window)
    for chunk in (1, 5, 1024):
        given = ultravico_attention(query, key, value, frames, frames, alpha=alpha, window=window, chunk=chunk)
        assert given.shape == query.shape and given.dtype == torch.float32
        np.testing.assert_allclose(given.numpy(), expected, rtol=0, atol=2e-5)
    np.testing.assert_allclose(UltraViCo(alpha, window).attention(query, key, value, grid, text).numpy(), expected,
                               rtol=0, atol=2e-5)


def test_cross_attention_and_text_after_the_video():
    """Queries and keys of different lengths and frames (text after the video, as Wan's own order would put it)."""
    grid = (5, 2, 2)
    frames_q = token_frames(grid, 2, text_first=False)
    frames_k = token_frames((3, 2, 2), 1, text_first=False)
    g = torch.Generator().manual_seed(3)
    query, key, value = (2 * torch.randn(1, 2, n, 4, generator=g) for n in (22, 13, 13))
    given = ultravico_attention(query, key, value, frames_q, frames_k, alpha=0.6, window=2, scale=0.3)
    np.testing.assert_allclose(given.numpy(), literal(query, key, value, frames_q, frames_k, 0.6, 2, 0.3), atol=2e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("grid, window", [((13, 2, 3), 13), ((9, 3, 2), 13), ((1, 4, 4), 1)])
def test_the_trained_length_and_shorter_are_the_models_own_attention_bit_for_bit(grid, window, dtype):
    """No frame distance reaches the window: scaled_dot_product_attention itself, in every dtype."""
    query, key, value = qkv(grid, 3, dtype=dtype)
    frames = token_frames(grid, 3)
    given = ultravico_attention(query, key, value, frames, frames, alpha=0.5, window=window)
    assert torch.equal(given, F.scaled_dot_product_attention(query, key, value))
    assert not UltraViCo(0.5, window).damps(grid)


def test_alpha_one_is_the_identity_at_any_length():
    grid = (20, 2, 2)
    query, key, value = qkv(grid, 2)
    frames = token_frames(grid, 2)
    assert torch.equal(ultravico_attention(query, key, value, frames, frames, alpha=1.0, window=3),
                       F.scaled_dot_product_attention(query, key, value))
    assert not UltraViCo(1.0, 3).damps(grid) and UltraViCo(0.9, 3).damps(grid)


def test_the_decay_moves_attention_into_the_window():
    """For every query, the attention mass on keys out of its window falls below the undamped attention's
    where α < 1, and falls further as α falls (a value of 1 on those keys, 0 elsewhere, reads the mass)."""
    grid, window = (8, 2, 2), 5  # frames 3 and 4 have no key 5 frames away
    query, key, _ = qkv(grid, batch=1, heads=2)
    frames = token_frames(grid)
    masses = []
    for alpha in (1.0, 0.8, 0.5):
        mass = []
        for i in range(query.shape[2]):
            value = outside_window(frames[i:i + 1], frames, window).float()[None, None, 0, :, None]  # (1, 1, N, 1)
            out = ultravico_attention(query[:, :, i:i + 1], key, value.expand(1, 2, -1, 1), frames[i:i + 1], frames,
                                      alpha=alpha, window=window)
            mass.append(out)
        masses.append(torch.cat(mass, dim=2))  # (1, heads, N, 1)
    far = outside_window(frames, frames, window).any(dim=1)  # queries with any key out of the window
    assert far.any() and not far.all()
    assert (masses[1][..., far, :] < masses[0][..., far, :]).all() and (masses[2][..., far, :] < masses[1][..., far, :]).all()
    assert (masses[2][..., ~far, :] == 0).all()


def test_negative_logits_and_text_tokens_are_never_damped():
    logits = torch.tensor([[2.0, -2.0, 1.0], [0.5, -0.5, 3.0]])
    outside = torch.tensor([[True, True, False], [True, False, True]])
    assert damp_logits(logits, outside, 0.5).tolist() == [[1.0, -2.0, 1.0], [0.25, -0.5, 1.5]]
    frames = token_frames((4, 1, 1), 2)
    assert not outside_window(frames, frames, 1)[:2].any() and not outside_window(frames, frames, 1)[:, :2].any()
    assert outside_window(frames, frames, 1)[2:, 2:].tolist() == (~torch.eye(4, dtype=torch.bool)).tolist()


@pytest.mark.parametrize("call, error, message", [
    (lambda q, f: ultravico_attention(q, q, q, f, f, alpha=0.0, window=2), ValueError, r"alpha must be a number in \(0, 1\]"),
    (lambda q, f: ultravico_attention(q, q, q, f, f, alpha=1.5, window=2), ValueError, r"alpha must be"),
    (lambda q, f: ultravico_attention(q, q, q, f, f, alpha=0.9, window=0), ValueError, r"window must be a whole number of latent frames >= 1"),
    (lambda q, f: ultravico_attention(q, q, q, f, f, alpha=0.9, window=2.5), ValueError, r"window must be"),
    (lambda q, f: ultravico_attention(q, q, q, f.float(), f, alpha=0.9, window=2), TypeError, r"frames_q must be an integer tensor"),
    (lambda q, f: ultravico_attention(q, q, q, f, f[:-1], alpha=0.9, window=2), ValueError, r"frames_k has 7 frames for 8 keys"),
    (lambda q, f: ultravico_attention(q, q, q, f[None], f, alpha=0.9, window=2), ValueError, r"frames_q must be \(N,\)"),
    (lambda q, f: ultravico_attention(q[0], q, q, f, f, alpha=0.9, window=2), ValueError, r"query must be \(B, heads, N, D\)"),
    (lambda q, f: ultravico_attention(q, q[..., :2], q, f, f, alpha=0.9, window=2), ValueError, r"disagree"),
    (lambda q, f: ultravico_attention(q, q, q, f, f, alpha=0.9, window=2, chunk=0), ValueError, r"chunk must be"),
    (lambda q, f: token_frames((2, 2, 2), -1), ValueError, r"text_tokens must be a whole number >= 0"),
    (lambda q, f: UltraViCo(0.9, 0), ValueError, r"window must be"),
])
def test_bad_input_is_refused_naming_the_argument(call, error, message):
    query = torch.randn(1, 2, 8, 4)
    with pytest.raises(error, match=message):
        call(query, token_frames((4, 1, 2)))
