"""A tiny video diffusion transformer in CogVideoX's image, with its position encoding chosen by name (chapter 7).

Architecture (CogVideoX's expert-DiT without the text stream, scaled down)::

    video (B, C, T, H, W) --3-D patchify--> tokens (B, N, D), N = T'·H'·W', (T', H', W') = (T/pt, H/ph, W/pw)
    [+ additive position table (N, D)]                      sincos-* and learned-resample
    timestep t --sincos--> MLP --> c (B, D)
    depth × block:  AdaLN(shift, scale) -> attention (qk LayerNorm [-> RoPE on q, k]) -> gate
                    AdaLN(shift, scale) -> MLP (GELU-tanh)                            -> gate
    AdaLN -> linear -> unpatchify -> (B, C, T, H, W)

The token grid ``(T', H', W')`` is read from the input's shape at every call, so one model runs at any
resolution and length; ``ModelConfig.base_grid`` is the grid the first training stage used — the
reference every strategy scales against.

Strategies (:data:`STRATEGIES`, named ``"<encoding>-<strategy>"`` and read by
:func:`cogpe.strategy.parse_model_strategy`), all built from ``cogpe`` functions:

==========================  =====================================================================================
``sincos-extrapolate``      :class:`cogpe.embeddings.PositionTable`: :func:`cogpe.sincos_3d` on ``arange(n)`` at
                            every grid, added to tokens
``sincos-interpolate``      … with per-axis index division ``arange(n)/s``, ``s = n/n0`` (CogVideoX-2B's
                            ``/1.875``), for axes with ``s > 1``
``rope-extrapolate``        :class:`cogpe.embeddings.RotaryEmbedding3D` on ``arange(n)`` (CogVideoX-5B)
``rope-interpolate``        … strategy ``"interpolate"`` (PI)
``rope-ntk``                … strategy ``"ntk"`` (NTK-aware θ)
``rope-yarn``               … strategy ``"yarn"`` (NTK-by-parts + attention temperature)
``rope-riflex``             … strategy ``"riflex"`` (intrinsic frequency cut)
``learned-resample``        a learned table ``(T0·H0·W0, D)`` at the base grid, initialised from sincos and
                            resampled to the current grid (EVA/timm): bicubic over (H, W) with
                            :func:`cogpe.resample_table`, linear over T with :func:`cogpe.resample_table_3d`
==========================  =====================================================================================

Strategies of one :data:`FAMILIES` entry have the same parameters and compute the same function at the
base grid, so a checkpoint trained under one can continue under another (chapter 7's branching).
As everywhere (:mod:`cogpe.strategy`), axes with ``s ≤ 1`` are left at ``arange`` by every strategy.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_dim, check_factor, check_grid, check_size
from .embeddings import PositionTable, RotaryEmbedding3D
from .rope import apply_rope
from .sincos import sincos_frequencies
from .strategy import ENCODINGS, MODEL_STRATEGIES, Strategy, parse_model_strategy

__all__ = [
    "FAMILIES",
    "STRATEGIES",
    "ModelConfig",
    "VideoDiT",
    "patchify",
    "strategy_family",
    "unpatchify",
]

#: Every strategy name the model accepts: :data:`cogpe.strategy.MODEL_STRATEGIES`.
STRATEGIES = MODEL_STRATEGIES
#: Strategies by family (their encoding); strategies in one family share parameters (a checkpoint moves between them).
FAMILIES = {e: tuple(n for n in MODEL_STRATEGIES if parse_model_strategy(n)[0] == e) for e in ENCODINGS}


def strategy_family(strategy: str) -> str:
    """The :data:`FAMILIES` key of ``strategy``: its encoding (:func:`cogpe.strategy.parse_model_strategy`).

    >>> strategy_family("rope-ntk"), strategy_family("sincos-interpolate")
    ('rope', 'sincos')
    """
    return parse_model_strategy(strategy)[0]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of :class:`VideoDiT` and its position encoding.

    ``patch = (pt, ph, pw)`` pixels per token along (T, H, W); ``width`` is D, split over ``heads``
    heads of ``head_dim = width/heads`` channels; ``base_grid = (T0, H0, W0)`` the token grid of the
    first training stage (``None`` until :class:`cogpe.trainconfig.TrainConfig` fills it from its first
    stage; a model needs it); ``theta`` the base of every sincos and RoPE frequency.

    >>> ModelConfig(base_grid=(8, 4, 4)).head_dim
    32
    """

    strategy: str = "rope-extrapolate"
    in_channels: int = 3
    patch: tuple[int, int, int] = (1, 4, 4)
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    base_grid: tuple[int, int, int] | None = None
    theta: float = 10000.0

    def __post_init__(self):
        encoding, _ = self._parsed  # the one place the name is read
        check_size("in_channels", self.in_channels, what="channels")
        object.__setattr__(self, "patch", check_grid("patch", self.patch, 3))
        check_size("depth", self.depth, what="blocks")
        heads = check_size("heads", self.heads, what="attention heads")
        width = check_dim(
            "width", self.width, multiple=16,
            why="cannot hold CogVideoX's 3-D sincos split t/w/h = 1/4, 3/8, 3/8 in whole [sin | cos] pairs",
        )
        if width % heads:
            raise ValueError(f"width={width} is not divisible by heads={heads}; pick heads dividing width")
        if encoding == "rope" and (width // heads) % 16:
            raise ValueError(
                f"head_dim = width/heads = {width // heads} cannot split into RoPE's t/h/w = 1/4, 3/8, 3/8 "
                "even pairs; use a head_dim that is a multiple of 16 (e.g. width=128, heads=4 or 8)"
            )
        check_factor("mlp_ratio", self.mlp_ratio)
        check_factor("theta", self.theta)
        if self.base_grid is not None:
            object.__setattr__(self, "base_grid", check_grid("base_grid", self.base_grid, 3))

    @functools.cached_property
    def _parsed(self) -> tuple[str, Strategy]:
        """``(encoding, Strategy)`` of :attr:`strategy`, read once (:func:`cogpe.strategy.parse_model_strategy`)."""
        return parse_model_strategy(self.strategy)

    @property
    def head_dim(self) -> int:
        """Channels per attention head: ``width // heads``."""
        return self.width // self.heads

    @property
    def family(self) -> str:
        """The strategy's :data:`FAMILIES` key: its encoding, ``"sincos"``, ``"rope"`` or ``"learned"``."""
        return self._parsed[0]

    @property
    def position_strategy(self) -> Strategy:
        """What the encoding does at a grid other than ``base_grid`` (:class:`cogpe.strategy.Strategy`)."""
        return self._parsed[1]

    def token_grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid ``(T/pt, H/ph, W/pw)`` of a ``frames × height × width`` video; a clear error if a size
        is not a multiple of the patch.

        >>> ModelConfig().token_grid(8, 32, 32)
        (8, 8, 8)
        """
        sizes = {"frames": frames, "height": height, "width": width}
        out = []
        for (name, n), p in zip(sizes.items(), self.patch):
            n = check_size(name, n, what="frames" if name == "frames" else "pixels")
            if n % p:
                lo = max(p, n - n % p)
                raise ValueError(
                    f"{name}={n} is not divisible by the patch size {p} along that axis "
                    f"(patch=(pt, ph, pw)={self.patch}); use e.g. {name}={lo} or {lo + p}"
                )
            out.append(n // p)
        t, h, w = out
        return t, h, w


def patchify(x: torch.Tensor, patch) -> torch.Tensor:
    """Video ``(B, C, T, H, W)`` -> tokens ``(B, T'·H'·W', pt·ph·pw·C)``; tokens (t, h, w) row-major.

    Each token's features are ordered ``(pt, ph, pw, C)``. :func:`unpatchify` inverts it.

    >>> patchify(torch.zeros(2, 3, 8, 16, 16), (1, 4, 4)).shape
    torch.Size([2, 128, 48])
    """
    b, c, t, h, w = x.shape
    pt, ph, pw = patch
    x = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw)  # (B, C, T', pt, H', ph, W', pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, T', H', W', pt, ph, pw, C)
    return x.reshape(b, (t // pt) * (h // ph) * (w // pw), pt * ph * pw * c)


def unpatchify(tokens: torch.Tensor, grid, patch, channels: int) -> torch.Tensor:
    """Tokens ``(B, T'·H'·W', pt·ph·pw·C)`` -> video ``(B, C, T'·pt, H'·ph, W'·pw)``; inverse of :func:`patchify`.

    >>> x = torch.randn(1, 3, 2, 8, 8)
    >>> torch.equal(unpatchify(patchify(x, (1, 4, 4)), (2, 2, 2), (1, 4, 4), 3), x)
    True
    """
    b = tokens.shape[0]
    (t, h, w), (pt, ph, pw) = grid, patch
    x = tokens.reshape(b, t, h, w, pt, ph, pw, channels)  # (B, T', H', W', pt, ph, pw, C)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # (B, C, T', pt, H', ph, W', pw)
    return x.reshape(b, channels, t * pt, h * ph, w * pw)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """AdaLN: ``x (B, N, D) · (1 + scale) + shift``, with shift/scale ``(B, 1, D)``."""
    return x * (1.0 + scale) + shift


class _Block(nn.Module):
    """One DiT block: AdaLN-zero attention (qk LayerNorm, optional RoPE) and MLP; ``(B, N, D) -> (B, N, D)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, hd = cfg.width, cfg.head_dim
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.q_norm = nn.LayerNorm(hd, eps=1e-6)  # CogVideoX's qk_norm: LayerNorm per head
        self.k_norm = nn.LayerNorm(hd, eps=1e-6)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(round(d * cfg.mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
        self.ada = nn.Linear(d, 6 * d)  # c -> shift/scale/gate for attention and MLP

    def _qkv(self, h: torch.Tensor, rope) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys (normed, rotated) and values ``(B, heads, N, hd)`` of modulated tokens ``h (B, N, D)``."""
        b, n, d = h.shape
        qkv = self.qkv(h).reshape(b, n, 3, self.heads, d // self.heads)  # (B, N, 3, heads, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, N, hd) each
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            cos, sin = rope  # (N, hd) each
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return q, k, v

    def forward(self, x: torch.Tensor, c: torch.Tensor, rope, entropy: list | None = None) -> torch.Tensor:
        """``x (B, N, D)``, conditioning ``c (B, D)`` -> ``(B, N, D)``; appends the attention entropy
        ``(B, heads, N)`` in nats to ``entropy`` when a list is given (an explicit softmax, for measuring)."""
        b, n, d = x.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(F.silu(c))[:, None].chunk(6, dim=-1)  # (B, 1, D) each
        q, k, v = self._qkv(_modulate(self.norm1(x), shift1, scale1), rope)
        if entropy is not None:
            logits = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])  # (B, heads, N, N)
            p = logits.softmax(-1)
            entropy.append(-(p * logits.log_softmax(-1)).sum(-1))  # (B, heads, N)
        a = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, hd)
        x = x + gate1 * self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + gate2 * self.mlp(_modulate(self.norm2(x), shift2, scale2))


class VideoDiT(nn.Module):
    """Tiny CogVideoX-style video DiT: ``(x (B, C, T, H, W), t (B,)) -> (B, C, T, H, W)`` at any grid.

    ``t`` in ``[0, 1]`` is the noise level (flow-matching time), embedded as CogVideoX embeds its
    timestep — a sinusoid of ``1000·t`` (:func:`cogpe.sincos_1d`) then an MLP. The output is the
    predicted velocity. Blocks are AdaLN-zero (gates and the output layer start at zero, so the
    untrained model predicts 0). The position encoding is ``config.strategy``; the grid comes from
    ``x.shape`` (sizes must be multiples of ``config.patch``). Under bf16 or fp16 autocast the residual
    stream ``(B, N, D)`` stays float32 (:mod:`cogpe.precision`); the output has autocast's dtype.

    >>> model = VideoDiT(ModelConfig(width=32, depth=1, heads=2, base_grid=(2, 2, 2), strategy="sincos-extrapolate"))
    >>> model(torch.zeros(1, 3, 2, 8, 8), torch.tensor([0.5])).shape     # the base grid
    torch.Size([1, 3, 2, 8, 8])
    >>> model(torch.zeros(1, 3, 4, 16, 12), torch.tensor([0.5])).shape   # another grid, same model
    torch.Size([1, 3, 4, 16, 12])
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        if config.base_grid is None:
            raise ValueError(
                "ModelConfig.base_grid is None; set base_grid=(T0, H0, W0), the token grid of the first "
                "training stage (TrainConfig fills it from stages[0])"
            )
        self.config = config
        d = config.width
        pt, ph, pw = config.patch
        patch_dim = pt * ph * pw * config.in_channels
        self.embed = nn.Linear(patch_dim, d)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        encoding, strategy = config.family, config.position_strategy
        self.pos = (
            PositionTable(encoding, d, config.base_grid, config.theta, strategy=strategy) if encoding != "rope" else None
        )
        self.rope = (
            RotaryEmbedding3D(config.head_dim, config.theta, strategy=strategy, base_grid=config.base_grid)
            if encoding == "rope" else None
        )
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, patch_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.time_mlp:  # its two Linear layers, first then second
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        for block in self.modules():  # AdaLN-zero: every block starts as the identity
            if isinstance(block, _Block):
                nn.init.zeros_(block.ada.weight)
                nn.init.zeros_(block.ada.bias)
        for layer in (self.ada_out, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def grid_of(self, x: torch.Tensor) -> tuple[int, int, int]:
        """Token grid ``(T', H', W')`` of a video batch ``x (B, C, T, H, W)``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 5:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a video batch (B, C, T, H, W), got {shape}")
        if x.shape[1] != self.config.in_channels:
            raise ValueError(f"x has {x.shape[1]} channels but the model expects in_channels={self.config.in_channels}")
        return self.config.token_grid(*x.shape[2:])

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, entropy: list | None = None) -> torch.Tensor:
        """Velocity ``(B, C, T, H, W)`` for noisy videos ``x (B, C, T, H, W)`` at noise levels ``t (B,)``.

        ``entropy``: a list that receives, per block, the entropy of every query's attention distribution,
        ``(B, heads, N)`` in nats (at most ``ln N``; see :meth:`attention_entropy`).
        """
        grid = self.grid_of(x)
        b = x.shape[0]
        t = torch.as_tensor(t, device=x.device).reshape(-1)
        if t.shape[0] != b:
            raise ValueError(f"t must hold one noise level per video: shape ({b},), got {tuple(t.shape)}")
        # The residual stream stays float32 under autocast: a block adds its (bf16/fp16) output to a float32
        # sum, so only the layers' inputs are rounded (a no-op without autocast).
        tokens = self.embed(patchify(x, self.config.patch)).float()  # (B, N, D)
        if self.pos is not None:
            tokens = tokens + self.pos(grid, device=x.device, dtype=tokens.dtype)  # (N, D) broadcast over B
        c = self.time_mlp(self._time_embedding(t).to(tokens.dtype))  # (B, D)
        rope = self.rope(grid, device=x.device) if self.rope is not None else None  # float32 (N, hd) each
        for block in self.blocks:
            tokens = block(tokens, c, rope, entropy)
        shift, scale = self.ada_out(F.silu(c))[:, None].chunk(2, dim=-1)  # (B, 1, D) each
        out = self.out(_modulate(self.norm_out(tokens), shift, scale))  # (B, N, pt*ph*pw*C)
        return unpatchify(out, grid, self.config.patch, self.config.in_channels)

    def _time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """``sincos_1d(1000·t, width, theta)`` for levels ``t (B,)``: ``(B, D)`` float64, computed as
        :func:`cogpe.sincos_1d` does but without its finiteness check, which would wait for the GPU at
        every step (a non-finite ``t`` gives a non-finite output, which the trainer reports)."""
        positions = t.detach().to(torch.float64) * 1000.0  # (B,)
        omega = sincos_frequencies(self.config.width, self.config.theta, device=positions.device)  # (D/2,)
        angles = torch.outer(positions, omega)  # (B, D/2)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, D): [sin | cos]

    @torch.no_grad()
    def attention_entropy(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean attention entropy per block, ``(depth,)`` float64 in nats, for inputs ``x (B, C, T, H, W)``
        at levels ``t (B,)``: the average over videos, heads and queries of ``−Σ_j p_ij ln p_ij``.

        Uniform attention over N tokens has entropy ``ln N``; attention that spreads as the grid grows
        is what YaRN's temperature (:func:`cogpe.strategy_tables.attention_scale`) is meant to counter.

        >>> model = VideoDiT(ModelConfig(width=32, depth=2, heads=2, base_grid=(2, 2, 2)))
        >>> h = model.attention_entropy(torch.zeros(1, 3, 2, 8, 8), torch.tensor([0.5]))
        >>> h.shape, bool((h <= math.log(8) + 1e-6).all())
        (torch.Size([2]), True)
        """
        entropy: list[torch.Tensor] = []
        self(x, t, entropy=entropy)
        return torch.stack([e.double().mean() for e in entropy]).cpu()

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def flops_per_video(self, grid) -> float:
        """Approximate forward FLOPs for one video at token grid ``grid``: linear layers + attention."""
        n = math.prod(check_grid("grid", grid, 3))
        d, depth = self.config.width, self.config.depth
        per_token = 2 * (4 * d * d + 2 * d * int(round(d * self.config.mlp_ratio)))
        return float(depth * (n * per_token + 4 * n * n * d))
