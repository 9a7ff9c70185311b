"""What a trained model does at a new grid beyond its loss: samples, their statistics, attention (chapter 7).

:func:`analyse_checkpoint` looks at one checkpoint under one strategy, on every held-out probe of its
run (:class:`cogpe.trainconfig.Probe`: the zoom, the spatial canvas, the temporal canvas, …):

- **samples** — ``n`` videos generated at each probe's size from fixed noise
  (:func:`cogpe.objective.sample`), and their :func:`cogpe.videostats.sample_ratios` against ``n``
  held-out data videos of the same probe (same size, same field of view): spatial total variation and
  frame-to-frame difference, 1 meaning the data's amount of detail and motion; their
  :func:`cogpe.videostats.behaviour_ratios` (object speed, size and count against the data's, the share
  of looping videos); and, given a feature network (:mod:`cogpe.quality`), the Fréchet distance of
  samples to data (``fvd``) beside that of ``n`` other data videos (``fvd_data``, the floor at this ``n``);
- **attention entropy** per block on the probe's held-out inputs
  (:func:`cogpe.objective.heldout_attention_entropy`), in nats — how far each query's attention spreads;
- for a strategy with YaRN's attention temperature, the **loss and entropy without it** (the same
  frequencies, ``attention_factor=1``), which shows what the temperature does at this grid.

Results are plain data (:func:`analyse_checkpoint`'s return value) and the videos uint8 arrays, so that
:mod:`cogpe.lab` can store them next to the losses.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import check_size
from .behaviour import Behaviour, measure
from .data import VideoDataset
from .embeddings import RotaryEmbedding3D
from .model import VideoDiT
from .objective import evaluate, heldout_attention_entropy, sample
from .quality import FeatureNet, frechet_video_distance
from .trainconfig import Probe, TrainConfig
from .videostats import ratios_of, sample_ratios

__all__ = ["SAMPLE_STEPS", "analyse_checkpoint", "probe_data", "resolution_key", "to_uint8", "without_temperature"]

#: Euler steps of the flow ODE that generate every stored sample.
SAMPLE_STEPS = 20


def resolution_key(resolution) -> str:
    """``(frames, height, width)`` as ``"FxHxW"``, the key samples are stored under.

    >>> resolution_key((8, 32, 32))
    '8x32x32'
    """
    return "x".join(str(int(v)) for v in resolution)


def to_uint8(videos: torch.Tensor) -> np.ndarray:
    """Videos in [-1, 1] -> uint8 in [0, 255], same shape ``(n, C, T, H, W)``."""
    return ((videos.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def probe_data(config: TrainConfig, probe: Probe, n: int, split: str = "val") -> torch.Tensor:
    """The first ``n`` held-out videos of ``probe`` (split ``"val"``, ``config.eval_seed``, the probe's
    extent and frame step), ``(n, C, T, H, W)`` in [-1, 1] — the reference :func:`analyse_checkpoint`
    compares samples with; ``split="test"`` gives other videos of the same kind (the floor of a distance)."""
    dataset = VideoDataset(config.data, *probe.resolution, length=n, split=split, seed=config.eval_seed,
                           extent=probe.extent, frame_step=probe.frame_step)
    return dataset.batch(range(n))


def without_temperature(model: VideoDiT) -> VideoDiT | None:
    """``model`` with YaRN's attention temperature switched off (``attention_factor=1``; the frequencies
    unchanged; a copy, in eval mode on the model's device), or None when its strategy has no temperature."""
    strategy = model.config.position_strategy
    off = strategy.without_temperature()
    if model.rope is None or off == strategy:
        return None
    plain = VideoDiT(model.config)
    plain.load_state_dict(model.state_dict())
    plain.rope = RotaryEmbedding3D(model.config.head_dim, model.config.theta, strategy=off,
                                   base_grid=model.config.base_grid)
    return plain.to(next(model.parameters()).device).eval()


def analyse_checkpoint(model: VideoDiT, config: TrainConfig, *, samples: int = 8, attention: bool = True,
                       features: FeatureNet | None = None) -> tuple[dict[str, dict], dict[str, torch.Tensor]]:
    """Look at ``model`` (trained under ``config``) on every probe of ``config``.

    Returns ``(metrics, videos)``. ``metrics[probe]`` holds ``entropy`` (mean over blocks, nats) and
    ``entropy_blocks`` (one per block) when ``attention``; ``tv`` and ``frame_diff`` (sample ratios) and
    :data:`cogpe.videostats.BEHAVIOUR` when ``samples > 0``, with ``fvd`` and ``fvd_data`` when
    ``features`` is given too; and for a strategy with YaRN's temperature ``loss_no_temperature`` and
    ``entropy_no_temperature``. ``videos`` maps ``"FxHxW"`` to the ``samples`` generated at that size
    ``(samples, C, T, H, W)`` — probes of one size share them: the model does not know the field of view.
    """
    n = check_size("samples", samples, minimum=0, what="videos")
    metrics: dict[str, dict] = {}
    videos: dict[str, torch.Tensor] = {}
    measured: dict[str, Behaviour] = {}
    plain = without_temperature(model) if attention else None
    for probe in config.probes:
        out: dict = metrics.setdefault(probe.name, {})
        if attention:
            out["entropy_blocks"] = _entropy(model, config, probe)
            out["entropy"] = sum(out["entropy_blocks"]) / len(out["entropy_blocks"])
        if plain is not None:
            out["loss_no_temperature"] = evaluate(
                plain, config.data, probe.resolution, n_videos=config.eval_videos, seed=config.eval_seed,
                objective=config.objective, extent=probe.extent, frame_step=probe.frame_step)
            blocks = _entropy(plain, config, probe)
            out["entropy_no_temperature"] = sum(blocks) / len(blocks)
        if n:
            key = resolution_key(probe.resolution)
            if key not in videos:
                videos[key] = sample(model, n, probe.resolution, steps=SAMPLE_STEPS, seed=0,
                                     objective=config.objective, channels=config.data.channels,
                                     shift=config.level_shift(probe.resolution))
                measured[key] = measure(videos[key])  # probes of one size share it
            data = probe_data(config, probe, n)
            out.update(sample_ratios(videos[key], data))
            out.update(ratios_of(measured[key], measure(data)))
            if features is not None:
                out["fvd"] = frechet_video_distance(videos[key], data, features)
                out["fvd_data"] = frechet_video_distance(probe_data(config, probe, n, "test"), data, features)
    return metrics, videos


def _entropy(model: VideoDiT, config: TrainConfig, probe: Probe) -> list[float]:
    blocks = heldout_attention_entropy(model, config.data, probe.resolution, n_videos=config.eval_videos,
                                       seed=config.eval_seed, objective=config.objective, extent=probe.extent,
                                       frame_step=probe.frame_step)
    assert all(math.isfinite(h) for h in blocks)
    return blocks
