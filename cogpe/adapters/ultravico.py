"""UltraViCo's attention decay: the logits between tokens further apart in time than training saw, damped.

Facts from the sources (zhao2025ultravico, arXiv 2511.20123; the authors' code, thu-ml/DiT-Extrapolation,
branches ``ultra-wan`` and ``ultra-hunyuan``):

- **Paper** (abstract): past the training length, tokens beyond the training window *disperse*
  attention — they dilute the patterns learned inside it, blurring detail and freezing motion, and,
  where RoPE's harmonics line the dispersion up periodically, repeating content. UltraViCo
  suppresses the attention of tokens beyond the training window by a constant decay factor,
  training-free, from 2× to 4× the trained length.
- **Code** (read, not copied): its attention kernel multiplies a pair's logit ``s = q·k/√D`` by the
  factor ``α`` (``--alpha``, in (0, 1); 0.9 in its example at 3×; larger α keeps more temporal
  consistency, smaller gives better image quality) where the pair is out of the window and ``s > 0``;
  a negative logit is left as it is (multiplying it by α < 1 would raise its weight). Its window is
  a distance in the flattened token sequence, half of Wan's trained 21 latent frames × 1560 tokens —
  so it damps pairs within the trained length too — and it also masks first-frame queries from keys
  past frame 21, a Wan-specific rule not reproduced here.

Our rule (the choice of window is ours), eq. ``ultravico``: for query token i and key token j with
latent frames ``t_i``, ``t_j`` (text tokens have none and are never damped)::

    s'_ij = α · s_ij   where |t_i − t_j| ≥ window and s_ij > 0,      s'_ij = s_ij otherwise,
    out_i = Σ_j softmax_j(s'_ij) · v_j.

``window`` defaults to the trained number of latent frames ``T0``: every temporal distance training
saw (0 … T0 − 1) keeps its logits, only distances no training video had are damped. So at the trained
length and below nothing changes — :func:`ultravico_attention` then *is*
``torch.nn.functional.scaled_dot_product_attention``, bit for bit — and α = 1 is the identity at any
length (to rounding). ``window = T0 / 2`` is close to the released kernel's window (counted in whole
frames rather than flattened tokens).

The decay needs the logits one by one, so the damped path computes attention densely, a chunk of
queries at a time in float32 (``(B, heads, chunk, N)`` logits at once), not with a fused kernel.
Tokens are in the models' order, rows ``t·H·W + h·W + w`` after any text tokens
(:func:`token_frames`). Nothing here touches a model: wiring it into
:func:`cogpe.adapters.use_strategy` is left to :mod:`cogpe.adapters.hooks`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_grid

__all__ = ["UltraViCo", "damp_logits", "outside_window", "token_frames", "ultravico_attention"]

#: Queries per chunk of the damped path: ``(B, heads, 1024, N)`` float32 logits at a time.
CHUNK = 1024


def token_frames(grid: tuple[int, int, int], text_tokens: int = 0, *, text_first: bool = True) -> torch.Tensor:
    """The latent frame of every token, ``(text_tokens + T*H*W,)`` int64 on the CPU: video rows
    ``t·H·W + h·W + w`` get ``t``, text tokens ``−1`` (before the video, as CogVideoX and HunyuanVideo
    join them, or after it with ``text_first=False``).

    >>> token_frames((3, 1, 2), 2).tolist()
    [-1, -1, 0, 0, 1, 1, 2, 2]
    """
    t, h, w = check_grid("grid", grid, 3)
    if isinstance(text_tokens, bool) or not isinstance(text_tokens, numbers.Integral) or text_tokens < 0:
        raise ValueError(f"text_tokens must be a whole number >= 0 (the text tokens joined to the video), got {text_tokens!r}")
    video = torch.arange(t, dtype=torch.int64).repeat_interleave(h * w)  # (T*H*W,) frame of each row
    text = torch.full((int(text_tokens),), -1, dtype=torch.int64)
    return torch.cat([text, video] if text_first else [video, text])


def outside_window(frames_q: torch.Tensor, frames_k: torch.Tensor, window: int) -> torch.Tensor:
    """``(Nq, Nk)`` bool: the pairs eq. ``ultravico`` damps — both tokens in a frame (``>= 0``), ``|t_i − t_j| >= window``.

    >>> outside_window(torch.tensor([0, 3]), torch.tensor([-1, 0, 2]), 2).tolist()
    [[False, False, True], [False, True, False]]
    """
    frames_q, frames_k = _frames("frames_q", frames_q), _frames("frames_k", frames_k)
    window = _window(window)
    framed = (frames_q[:, None] >= 0) & (frames_k[None, :] >= 0)  # (Nq, Nk) text tokens: never
    return framed & ((frames_q[:, None] - frames_k[None, :]).abs() >= window)


def damp_logits(logits: torch.Tensor, outside: torch.Tensor, alpha: float) -> torch.Tensor:
    """``logits`` ``(..., Nq, Nk)`` with the positive entries where ``outside`` ``(Nq, Nk)`` multiplied by ``alpha``."""
    return torch.where(outside & (logits > 0), logits * alpha, logits)


def ultravico_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    frames_q: torch.Tensor,
    frames_k: torch.Tensor,
    *,
    alpha: float,
    window: int,
    scale: float | None = None,
    chunk: int = CHUNK,
) -> torch.Tensor:
    """Attention under eq. ``ultravico``: ``query`` ``(B, heads, Nq, D)``, ``key`` ``(B, heads, Nk, D)``,
    ``value`` ``(B, heads, Nk, Dv)`` -> ``(B, heads, Nq, Dv)`` in ``query``'s dtype; the layout and default
    ``scale`` (``1/√D``) of ``scaled_dot_product_attention``.

    ``frames_q`` ``(Nq,)`` and ``frames_k`` ``(Nk,)`` are the tokens' latent frames (:func:`token_frames`);
    given on the CPU, deciding whether any pair is damped reads nothing from the device. Where none is
    (every frame distance below ``window``) or ``alpha == 1``, this is ``scaled_dot_product_attention``
    itself; otherwise dense, ``chunk`` queries at a time, in float32.
    """
    alpha, window = _alpha(alpha), _window(window)
    frames_q, frames_k = _frames("frames_q", frames_q), _frames("frames_k", frames_k)
    _check_qkv(query, key, value, frames_q, frames_k)
    if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
        raise ValueError(f"chunk must be a positive whole number of queries, got {chunk!r}")
    if alpha == 1.0 or not _any_outside(frames_q, frames_k, window):
        return F.scaled_dot_product_attention(query, key, value, scale=scale)  # nothing to damp: the model's own
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    keys_t, values = key.float().transpose(-1, -2), value.float()  # (B, heads, D, Nk), (B, heads, Nk, Dv)
    frames_k = frames_k.to(query.device)
    out = []
    for start in range(0, query.shape[-2], int(chunk)):
        q = query[..., start:start + int(chunk), :].float()  # (B, heads, c, D)
        outside = outside_window(frames_q[start:start + int(chunk)].to(query.device), frames_k, window)  # (c, Nk)
        logits = damp_logits(torch.matmul(q, keys_t) * scale, outside, alpha)  # (B, heads, c, Nk)
        out.append(torch.matmul(torch.softmax(logits, dim=-1), values))  # (B, heads, c, Dv)
    return torch.cat(out, dim=-2).to(query.dtype)


@dataclass(frozen=True)
class UltraViCo:
    """UltraViCo's settings: ``alpha`` in (0, 1] and ``window`` in latent frames (eq. ``ultravico``; module
    docstring), :meth:`attention` the attention they give at a token ``grid``.

    ``for_trained(T0, alpha)`` is our default, the window of every distance training saw.

    >>> UltraViCo.for_trained(13, 0.9)
    UltraViCo(alpha=0.9, window=13)
    """

    alpha: float
    window: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", _alpha(self.alpha))
        object.__setattr__(self, "window", _window(self.window))

    @classmethod
    def for_trained(cls, trained_frames: int, alpha: float = 0.9) -> UltraViCo:
        """The window of the trained latent frames ``T0`` (nothing damped at the trained length)."""
        return cls(alpha, trained_frames)

    def damps(self, grid: tuple[int, int, int]) -> bool:
        """Whether any pair of a token ``grid`` (T, H, W) is damped: ``T > window`` and ``alpha < 1``."""
        return check_grid("grid", grid, 3)[0] > self.window and self.alpha < 1.0

    def attention(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, grid: tuple[int, int, int],
        text_tokens: int = 0, *, text_first: bool = True, scale: float | None = None,
    ) -> torch.Tensor:
        """Self-attention ``(B, heads, N, Dv)`` over the ``text_tokens + T*H*W`` tokens of ``grid``, query, key
        and value ``(B, heads, N, D)`` in that order (:func:`token_frames`)."""
        frames = token_frames(grid, text_tokens, text_first=text_first)
        return ultravico_attention(query, key, value, frames, frames, alpha=self.alpha, window=self.window, scale=scale)


def _any_outside(frames_q: torch.Tensor, frames_k: torch.Tensor, window: int) -> bool:
    """Whether any pair is damped, read from the frames where they are (the CPU for :func:`token_frames`)."""
    q, k = frames_q[frames_q >= 0], frames_k[frames_k >= 0]
    if q.numel() == 0 or k.numel() == 0:
        return False
    return bool(max(q.max() - k.min(), k.max() - q.min()) >= window)


def _frames(name: str, frames: object) -> torch.Tensor:
    if not isinstance(frames, torch.Tensor) or frames.dtype.is_floating_point or frames.is_complex() or frames.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of latent frames (token_frames), got {frames!r}")
    if frames.ndim != 1:
        raise ValueError(f"{name} must be (N,), one latent frame per token, got shape {tuple(frames.shape)}")
    return frames.to(torch.int64)


def _alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < float(alpha) <= 1.0:
        raise ValueError(f"alpha must be a number in (0, 1], UltraViCo's decay factor (1: none), got {alpha!r}")
    return float(alpha)


def _window(window: object) -> int:
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1:
        raise ValueError(f"window must be a whole number of latent frames >= 1 (the trained frames T0 by default), "
                         f"got {window!r}")
    return int(window)


def _check_qkv(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, frames_q: torch.Tensor,
               frames_k: torch.Tensor) -> None:
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError(f"{name} must be (B, heads, N, D), got {getattr(x, 'shape', type(x).__name__)}")
    if query.shape[:2] != key.shape[:2] or key.shape[:3] != value.shape[:3] or query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query (B, heads, Nq, D), key (B, heads, Nk, D) and value (B, heads, Nk, Dv) disagree: "
                         f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    for name, frames, n, what in (("frames_q", frames_q, query.shape[-2], "queries"), ("frames_k", frames_k, key.shape[-2], "keys")):
        if frames.shape[0] != n:
            raise ValueError(f"{name} has {frames.shape[0]} frames for {n} {what}: one per token (token_frames)")
