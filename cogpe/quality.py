"""Sample quality as a distance between feature distributions: a Fréchet video distance in miniature and
a classifier two-sample test (chapter 7).

The Fréchet Inception distance (FID, Heusel et al. 2017) and its video form FVD (Unterthiner et al. 2018)
embed two sets of images or videos with a fixed network, fit a Gaussian to each set of features and
report the Fréchet (2-Wasserstein) distance between the Gaussians,

    d² = ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}),

zero when the two sets have the same feature mean and covariance (:func:`frechet_distance`). Inception
and I3D know nothing of discs on a gradient, so the lab's embedding is a :class:`FeatureNet`: four 3D
convolutions trained in seconds on :mod:`cogpe.data` videos to predict, at every pixel of every frame,
what the scene generator knows in closed form (:func:`target_maps`) — which kind of object is there and
how it moves (velocity after bounces, spin). Its features (:meth:`FeatureNet.features`) are global means
over space and time of two layers' activations and of their frame-to-frame change, so they see shape,
sharpness and motion and take videos of any size ``(B, C, T, H, W)``.

The classifier two-sample test (C2ST, Lopez-Paz & Oquab 2017) trains a small classifier to tell the two
feature sets apart and reports its accuracy on held-out features (:func:`classifier_two_sample_test`):
about 1/2 when the sets are indistinguishable, with a binomial p-value and interval for that claim.

Our own measurements (``tests/test_quality.py``, 256 videos a set, default :class:`FeatureConfig`, at
8×16×16 | 8×32×32): two data splits are d² = 0.0006–0.0009 apart and the C2ST scores 0.48–0.53 on
them; a blur of σ = 1/16 of the frame gives 0.0087 | 0.018 (C2ST 0.82 | 0.95), shuffled frames
0.0068 | 0.013 (0.95 | 0.98), the first frame held 0.011 | 0.026, uniform noise 0.71 | 1.0. Weak noise
(σ = 0.1) barely moves d² (0.0012 | 0.0014) but the C2ST tells it (0.84 | 0.95).

Both statistics compare sets of the **same** video size and the same number of videos: the network's
features depend on the size, and the Fréchet distance of two finite samples of one distribution is
positive, shrinking like 1/N.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_dim, check_factor, check_grid, check_size
from .data import DataConfig, Scene, VideoDataset, render, trajectory
from .runfiles import atomic_write

__all__ = [
    "FeatureConfig",
    "FeatureNet",
    "TARGETS",
    "TwoSampleResult",
    "cached_feature_net",
    "classifier_two_sample_test",
    "frechet_distance",
    "frechet_video_distance",
    "gaussian_blur",
    "load_feature_net",
    "save_feature_net",
    "shuffle_frames",
    "target_maps",
    "train_feature_net",
    "video_features",
    "video_two_sample_test",
]

#: Channels of :func:`target_maps`: the kind code (3), then velocity ``(dy, dx)`` and spin.
TARGETS = 6
# Kind codes: the vertices of a regular tetrahedron, equidistant, with the background (0) at its centre.
_KIND_CODES = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64)
_FORMAT = 1  # version of the files save_feature_net writes (part of cached_feature_net's key)


@dataclass(frozen=True)
class FeatureConfig:
    """How a :class:`FeatureNet` is trained: ``steps`` Adam steps on ``videos`` training videos of each of
    ``sizes`` ``(T, H, W)`` (cycled step by step), ``batch`` videos a step, ``width`` channels in the
    second layer (features ``D = 6·width``), everything drawn from ``seed``.

    The videos are items ``0 … videos − 1`` of :class:`cogpe.data.VideoDataset`'s ``"train"`` split (data
    seed 0) under ``data`` — give the ``data`` the compared model learned — and samples are compared with
    ``"val"`` or ``"test"`` videos, which neither network has seen.

    >>> FeatureConfig(steps=10).sizes
    ((8, 16, 16), (8, 32, 32))
    """

    data: DataConfig = DataConfig()
    sizes: tuple[tuple[int, int, int], ...] = ((8, 16, 16), (8, 32, 32))
    videos: int = 384
    steps: int = 240
    batch: int = 16
    lr: float = 3e-3
    width: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.data, DataConfig):
            raise TypeError(f"data must be a DataConfig, got {type(self.data).__name__}")
        if isinstance(self.sizes, (str, bytes)) or not isinstance(self.sizes, Sequence) or not self.sizes:
            raise TypeError(f"sizes must be a non-empty tuple of (T, H, W) video sizes, got {self.sizes!r}")
        sizes = tuple(check_grid(f"sizes[{i}]", s) for i, s in enumerate(self.sizes))
        object.__setattr__(self, "sizes", sizes)
        for name in ("videos", "steps", "batch"):
            check_size(name, getattr(self, name), what=name)
        check_factor("lr", self.lr)
        check_dim("width", self.width, multiple=2, why="is halved in the first layer")
        check_size("seed", self.seed, minimum=0, what="a seed")

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON types (tuples become lists); :meth:`from_dict` reads them back."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> FeatureConfig:
        """The config :meth:`to_dict` wrote."""
        data: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields["data"].items()}
        rest = {k: v for k, v in fields.items() if k != "data"}
        rest["sizes"] = tuple(tuple(s) for s in rest["sizes"])
        return cls(data=DataConfig(**data), **rest)


class FeatureNet(nn.Module):
    """Four 3D convolutions from videos ``(B, C, T, H, W)`` to :func:`target_maps` at a quarter of the
    resolution, ``(B, 6, T, ⌈H/4⌉, ⌈W/4⌉)``; :meth:`features` is the embedding the metrics use.

    Layers (width w): a 1×3×3 convolution to w/2 channels at stride 2 in space, a 3×3×3 to w, a 3×3×3 to
    2w at stride 2 in space, a 3×3×3 to 2w, each followed by a GELU, then a 1×1×1 read-out. ``config``
    is the :class:`FeatureConfig` it was trained with (``None`` until :func:`train_feature_net` sets it).

    >>> FeatureNet(channels=3, width=16)(torch.zeros(2, 3, 8, 16, 16)).shape
    torch.Size([2, 6, 8, 4, 4])
    """

    def __init__(self, channels: int = 3, width: int = 16) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 3 (RGB) or 1 (luminance), got {channels!r}")
        w = check_dim("width", width, multiple=2, why="is halved in the first layer")
        self.channels, self.width = channels, w
        self.config: FeatureConfig | None = None
        self.layers = nn.ModuleList([
            nn.Conv3d(channels, w // 2, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.Conv3d(w // 2, w, 3, padding=1),
            nn.Conv3d(w, 2 * w, 3, stride=(1, 2, 2), padding=1),
            nn.Conv3d(2 * w, 2 * w, 3, padding=1),
        ])
        self.readout = nn.Conv3d(2 * w, TARGETS, 1)

    @property
    def dim(self) -> int:
        """``D``, the length of a feature vector: ``6·width``."""
        return 6 * self.width

    def _hidden(self, videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Activations of layers 2 and 4: ``(B, w, T, H/2, W/2)`` and ``(B, 2w, T, H/4, W/4)``."""
        h = _check_videos("videos", videos, self.channels)
        outputs = []
        for layer in self.layers:
            h = F.gelu(layer(h))
            outputs.append(h)
        return outputs[1], outputs[3]

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Predicted target maps ``(B, 6, T, H', W')`` (H', W' a quarter of H, W, rounded up)."""
        return self.readout(self._hidden(videos)[1])

    def features(self, videos: torch.Tensor) -> torch.Tensor:
        """Feature vectors ``(B, D)``: per channel, the mean over ``(T, H, W)`` of layers 2 and 4, then the
        mean absolute change between consecutive frames of each (zero when T = 1)."""
        h2, h4 = self._hidden(videos)
        means = [h.mean(dim=(2, 3, 4)) for h in (h2, h4)]  # (B, w), (B, 2w)
        changes = [(h[:, :, 1:] - h[:, :, :-1]).abs().mean(dim=(2, 3, 4)) if h.shape[2] > 1
                   else torch.zeros_like(m) for h, m in zip((h2, h4), means)]
        return torch.cat(means + changes, dim=1)  # (B, 6w)


def _check_videos(name: str, videos: object, channels: int | None = None) -> torch.Tensor:
    """``videos`` as a float32 tensor ``(B, C, T, H, W)`` (C = ``channels`` where given), or a clear error."""
    if not isinstance(videos, torch.Tensor):
        raise TypeError(f"{name} must be a tensor (B, C, T, H, W), got {type(videos).__name__}")
    if videos.ndim != 5 or min(videos.shape) < 1:
        raise ValueError(f"{name} must be a non-empty tensor (B, C, T, H, W), got shape {tuple(videos.shape)}")
    if channels is not None and videos.shape[1] != channels:
        raise ValueError(f"{name} has {videos.shape[1]} channels (shape {tuple(videos.shape)}); this feature "
                         f"network takes {channels}, like the videos it was trained on")
    if not videos.is_floating_point():
        raise TypeError(f"{name} must be floating point in [-1, 1] (like cogpe.data's videos), got {videos.dtype}")
    return videos.float()


def target_maps(scene: Scene, frames: int, height: int, width: int, data: DataConfig) -> torch.Tensor:
    """What a :class:`FeatureNet` learns to see, in closed form: ``(B, 6, T, H, W)`` float32 for the
    videos ``render(scene, frames, height, width)``.

    Channels 0–2: the kind of the front object at each pixel as a tetrahedron vertex (disc ``(1, 1, 1)``,
    ring ``(1, −1, −1)``, triangle ``(−1, 1, −1)``, square ``(−1, −1, 1)``; background 0); channels 3–4:
    its velocity ``(dy, dx)`` at that frame, after bounces, in units of ``data.speed``'s maximum; channel
    5: its spin in units of ``data.spin``. Edges blend, as in the videos.
    """
    if not isinstance(data, DataConfig):
        raise TypeError(f"data must be a DataConfig, got {type(data).__name__}")
    flat = replace(scene, background=torch.zeros_like(scene.background), gradient=torch.zeros_like(scene.gradient))
    kinds = render(replace(flat, color=_KIND_CODES.to(scene.kind.device)[scene.kind]), frames, height, width)
    h = 1e-4  # a central difference of the reflected straight line: exact but within h of a bounce
    velocity = (trajectory(scene, frames, start=h) - trajectory(scene, frames, start=-h)) / (2 * h)  # (B, K, T, 2)
    spin = scene.spin / data.spin if data.spin > 0 else torch.zeros_like(scene.spin)  # (B, K)
    motion = [
        render(replace(flat, color=torch.cat([velocity[:, :, t] / data.speed[1], spin[..., None]], -1)),
               1, height, width, start=float(t))
        for t in range(frames)
    ]  # T × (B, 3, 1, H, W): the velocity changes at bounces, so one frame at a time
    return torch.cat([kinds, torch.cat(motion, dim=2)], dim=1)


def _training_set(config: FeatureConfig, size: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Videos ``(N, C, T, H, W)`` and their target maps ``(N, 6, T, H, W)`` at ``size``."""
    frames, height, width = size
    dataset = VideoDataset(config.data, frames, height, width, length=config.videos, split="train")
    scenes = dataset.scenes(range(config.videos))
    return dataset.batch(range(config.videos)), target_maps(scenes, frames, height, width, config.data)


def train_feature_net(config: FeatureConfig | None = None) -> FeatureNet:
    """A :class:`FeatureNet` trained under ``config`` (default :class:`FeatureConfig`), in eval mode
    without gradients; the same ``config`` gives the same weights (on one machine and torch build).

    The loss is the mean squared error between the predicted maps and :func:`target_maps` average-pooled
    to their resolution. The default takes about 20 s on one thread of a busy CPU.
    """
    config = FeatureConfig() if config is None else config
    if not isinstance(config, FeatureConfig):
        raise TypeError(f"config must be a FeatureConfig, got {type(config).__name__}")
    sets = [_training_set(config, size) for size in config.sizes]
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
        torch.manual_seed(config.seed)
        net = FeatureNet(config.data.channels, config.width)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    for step in range(config.steps):
        videos, maps = sets[step % len(sets)]
        pick = torch.randint(0, len(videos), (config.batch,), generator=generator)
        predicted = net(videos[pick])  # (batch, 6, T, H', W')
        loss = F.mse_loss(predicted, F.adaptive_avg_pool3d(maps[pick], predicted.shape[2:]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.config = config
    return net.eval().requires_grad_(False)


def save_feature_net(net: FeatureNet, path: str | Path) -> None:
    """Write ``net``'s ``state_dict`` with its sizes and training config to ``path`` (atomically)."""
    if not isinstance(net, FeatureNet):
        raise TypeError(f"net must be a FeatureNet, got {type(net).__name__}")
    config = None if net.config is None else json.dumps(net.config.to_dict())
    payload = {"format": _FORMAT, "channels": net.channels, "width": net.width, "config": config,
               "state_dict": net.state_dict()}
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_feature_net(path: str | Path) -> FeatureNet:
    """The :class:`FeatureNet` :func:`save_feature_net` wrote to ``path``, in eval mode without gradients."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a feature network written by save_feature_net (format {_FORMAT})")
    net = FeatureNet(payload["channels"], payload["width"])
    net.load_state_dict(payload["state_dict"])
    if payload["config"] is not None:
        net.config = FeatureConfig.from_dict(json.loads(payload["config"]))
    return net.eval().requires_grad_(False)


def cached_feature_net(config: FeatureConfig | None = None, directory: str | Path = ".") -> FeatureNet:
    """The network :func:`train_feature_net` gives for ``config``, read from ``directory`` when a previous
    call saved it there (the file name is a hash of every field of ``config``), trained and saved otherwise."""
    config = FeatureConfig() if config is None else config
    if not isinstance(config, FeatureConfig):
        raise TypeError(f"config must be a FeatureConfig, got {type(config).__name__}")
    key = json.dumps({"format": _FORMAT, "config": config.to_dict()}, sort_keys=True)
    path = Path(directory) / f"feature-net-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if path.exists():
        return load_feature_net(path)
    net = train_feature_net(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_feature_net(net, path)
    return net


def video_features(net: FeatureNet, videos: torch.Tensor, *, batch_size: int = 64) -> torch.Tensor:
    """Feature vectors ``(N, D)`` float64 of ``videos (N, C, T, H, W)``, ``batch_size`` videos at a time."""
    if not isinstance(net, FeatureNet):
        raise TypeError(f"net must be a FeatureNet (see train_feature_net), got {type(net).__name__}")
    videos = _check_videos("videos", videos, net.channels)
    batch_size = check_size("batch_size", batch_size, what="videos")
    param = next(net.parameters())
    with torch.no_grad():
        chunks = [net.features(chunk.to(param.device)) for chunk in videos.split(batch_size)]
    return torch.cat(chunks).double().cpu()


def _check_features(name: str, features: object) -> torch.Tensor:
    """``features`` as a float64 tensor ``(N, D)`` with N >= 2, finite, or a clear error."""
    if isinstance(features, np.ndarray):
        features = torch.from_numpy(features)
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{name} must be a tensor or array (N, D) of feature vectors, got {type(features).__name__}")
    if features.ndim != 2 or features.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, D), one feature vector a row, got {tuple(features.shape)}")
    if features.shape[0] < 2:
        raise ValueError(f"{name} has {features.shape[0]} feature vectors; a covariance needs N >= 2")
    if features.dtype == torch.bool or features.is_complex():
        raise TypeError(f"{name} must hold real numbers, got {features.dtype}")
    features = features.detach().to("cpu", torch.float64)
    if not torch.isfinite(features).all():
        raise ValueError(f"{name} holds NaN or infinite values; embed finite videos")
    return features


def _psd_roots(values: torch.Tensor) -> torch.Tensor:
    """√λ of the eigenvalues ``(D,)`` of a symmetric PSD matrix; those below rounding (D·ε·max λ, the
    cut-off of a numerical rank) count as 0, or √ε-sized roots of zero eigenvalues would remain."""
    cutoff = values.abs().max() * len(values) * torch.finfo(values.dtype).eps
    return torch.where(values > cutoff, values, torch.zeros_like(values)).sqrt()


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root ``(D, D)`` of a symmetric PSD matrix ``(D, D)``."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * _psd_roots(values)) @ vectors.T  # V diag(√λ) Vᵀ


def frechet_distance(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """The Fréchet distance ``d²`` (module docstring) between Gaussians fitted to ``features_a (N_a, D)`` and
    ``features_b (N_b, D)``: sample means and unbiased covariances, float64.

    ``tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}`` is the sum of the square roots of the eigenvalues of a symmetric
    PSD matrix (``torch.linalg.eigh``), which equals ``tr (Σ_a Σ_b)^{1/2}``; eigenvalues at the level of
    rounding (below D·ε times the largest) count as 0, so singular covariances (N <= D, constant
    features) give the exact answer to rounding. The result is clamped at 0.

    >>> a = torch.tensor([[0.0], [2.0]])                  # mean 1, variance 2
    >>> round(frechet_distance(a, a + 3.0), 12)           # means 3 apart, same variance: 3²
    9.0
    """
    a, b = _check_features("features_a", features_a), _check_features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a has D={a.shape[1]} features a row but features_b has D={b.shape[1]}; "
                         "embed both sets with the same network")
    d = a.shape[1]
    cov_a, cov_b = torch.cov(a.T).reshape(d, d), torch.cov(b.T).reshape(d, d)  # (D, D), unbiased
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a  # (D, D), symmetric PSD
    cross = _psd_roots(torch.linalg.eigvalsh((middle + middle.T) / 2)).sum()
    distance = (a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return max(float(distance), 0.0)


def frechet_video_distance(videos_a: torch.Tensor, videos_b: torch.Tensor, net: FeatureNet, *,
                           batch_size: int = 64) -> float:
    """:func:`frechet_distance` between the :func:`video_features` of ``videos_a (N_a, C, T, H, W)`` and
    ``videos_b (N_b, C, T', H', W')`` under ``net`` — chapter 7's sample-quality metric (lower is better).

    Compare sets of one video size and one number of videos (module docstring); ``tests/test_quality.py``
    states what data, blurred, frozen, shuffled and noisy videos measure.
    """
    return frechet_distance(video_features(net, videos_a, batch_size=batch_size),
                            video_features(net, videos_b, batch_size=batch_size))


# --- corruptions the tests measure the metric with ------------------------------------------------------


def gaussian_blur(videos: torch.Tensor, sigma: float) -> torch.Tensor:
    """Every frame of ``videos (B, C, T, H, W)`` blurred by a Gaussian of ``sigma`` pixels (separable,
    truncated at 3σ, borders replicated): the same shape, float32.

    >>> v = torch.zeros(1, 1, 1, 1, 9); v[..., 4] = 1.0
    >>> round(gaussian_blur(v, 1.0).sum().item(), 6)        # blurring keeps the total
    1.0
    """
    videos = _check_videos("videos", videos)
    sigma = check_factor("sigma", sigma)
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-x.square() / (2 * sigma * sigma))
    kernel = (kernel / kernel.sum()).float().to(videos.device)  # (2r + 1,)
    b, c, t, h, w = videos.shape
    frames = videos.reshape(b * c * t, 1, h, w)  # one image per (video, channel, frame)
    frames = F.conv2d(F.pad(frames, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    frames = F.conv2d(F.pad(frames, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return frames.reshape(b, c, t, h, w)


def shuffle_frames(videos: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """``videos (B, C, T, H, W)`` with each video's frames in its own random order (drawn from ``seed``):
    every frame is a data frame, but the motion is gone."""
    videos = _check_videos("videos", videos)
    seed = check_size("seed", seed, minimum=0, what="a seed")
    generator = torch.Generator().manual_seed(seed)
    b, _, t = videos.shape[:3]
    order = torch.stack([torch.randperm(t, generator=generator) for _ in range(b)]).to(videos.device)  # (B, T)
    return videos[torch.arange(b, device=videos.device)[:, None], :, order].transpose(1, 2)  # (B, T, C, …) → (B, C, T, …)


# --- the classifier two-sample test ---------------------------------------------------------------------


@dataclass(frozen=True)
class TwoSampleResult:
    """A C2ST outcome: held-out ``accuracy`` on ``n_test`` features (half from each set), its 95 % Wilson
    interval ``(low, high)``, and the one-sided binomial ``p_value`` of that many correct guesses if the
    classifier were guessing (accuracy 1/2: the two sets indistinguishable to it)."""

    accuracy: float
    low: float
    high: float
    p_value: float
    n_test: int


def _wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``correct / n`` (95 % for the default z)."""
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # it holds p, despite rounding


def _binomial_tail(correct: int, n: int) -> float:
    """``P(X >= correct)`` for ``X ~ Binomial(n, 1/2)``, exactly (integer arithmetic)."""
    return sum(math.comb(n, k) for k in range(correct, n + 1)) / 2**n


def classifier_two_sample_test(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray,
                               *, seed: int = 0, hidden: int = 32, steps: int = 300) -> TwoSampleResult:
    """Lopez-Paz & Oquab's C2ST on ``features_a (N, D)`` against ``features_b (N, D)`` (equal N >= 4).

    Each set is split in half at random (``seed``); a one-hidden-layer MLP (``hidden`` GELU units, Adam,
    ``steps`` full-batch steps, weight decay) learns on the first halves, standardised by their mean and
    spread, to tell a from b, and is scored on the second halves. Chapter 7 uses it beside the Fréchet
    distance: an accuracy near 1/2 says the samples pass for data under these features.

    >>> g = torch.Generator().manual_seed(0)
    >>> a, b = torch.randn(40, 2, generator=g), torch.randn(40, 2, generator=g) + 4.0   # means 4σ apart
    >>> r = classifier_two_sample_test(a, b, steps=50)
    >>> r.n_test, r.accuracy > 0.9, r.p_value < 1e-6
    (40, True, True)
    """
    a, b = _check_features("features_a", features_a), _check_features("features_b", features_b)
    if a.shape != b.shape or a.shape[0] < 4:
        raise ValueError(f"features_a {tuple(a.shape)} and features_b {tuple(b.shape)} must have the same "
                         "shape (N, D) with N >= 4: the test compares equally many samples of each set")
    seed = check_size("seed", seed, minimum=0, what="a seed")
    hidden, steps = check_size("hidden", hidden, what="units"), check_size("steps", steps, what="steps")
    n, half = a.shape[0], a.shape[0] // 2
    generator = torch.Generator().manual_seed(seed)
    parts = [x[torch.randperm(n, generator=generator)] for x in (a, b)]  # each (N, D), shuffled
    train_x = torch.cat([p[:half] for p in parts])  # (2·half, D)
    test_x = torch.cat([p[half:] for p in parts])  # (2·(N − half), D)
    train_y = torch.cat([torch.zeros(half), torch.ones(half)])
    test_y = torch.cat([torch.zeros(n - half), torch.ones(n - half)])
    centre, spread = train_x.mean(0), train_x.std(0).clamp(min=1e-12)
    train_x, test_x = (((x - centre) / spread).float() for x in (train_x, test_x))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(a.shape[1], hidden), nn.GELU(), nn.Linear(hidden, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-2)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(model(train_x)[:, 0], train_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        correct = int(((model(test_x)[:, 0] > 0).float() == test_y).sum())
    n_test = len(test_y)
    low, high = _wilson(correct, n_test)
    return TwoSampleResult(correct / n_test, low, high, _binomial_tail(correct, n_test), n_test)


def video_two_sample_test(videos_a: torch.Tensor, videos_b: torch.Tensor, net: FeatureNet, *,
                          seed: int = 0) -> TwoSampleResult:
    """:func:`classifier_two_sample_test` on the :func:`video_features` of ``videos_a (N, C, T, H, W)`` and
    ``videos_b (N, C, T, H, W)`` under ``net``."""
    return classifier_two_sample_test(video_features(net, videos_a), video_features(net, videos_b), seed=seed)
