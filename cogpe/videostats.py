"""Whether generated videos look like the data: two statistics a reader can check by eye (chapter 7).

A model that has not learned the data leaves noise in its samples; one that has learned only the
average leaves blur. Two numbers separate both from the data:

- **spatial total variation** :func:`total_variation` — mean absolute difference between vertically and
  horizontally neighbouring pixels (noise raises it, blur lowers it);
- **frame-to-frame difference** :func:`frame_difference` — mean absolute difference between consecutive
  frames (flicker raises it, frozen videos lower it).

:func:`sample_ratios` divides each by the same statistic of held-out data videos of the same shape: a
ratio near 1 means samples have the data's amount of detail and motion. Both statistics are means over
every pixel, channel and video, so they compare sets of different sizes.

:func:`behaviour_ratios` does the same for what the objects do (:mod:`cogpe.behaviour`): their speed
(below 1: slow motion), size (above 1: objects magnified, as a spatial canvas read as a zoom would give)
and number per frame (above 1: duplicated or tiled objects), and the share of videos that loop.
"""

from __future__ import annotations

import math

import torch

from .behaviour import Behaviour, measure

__all__ = ["BEHAVIOUR", "STATISTICS", "behaviour_ratios", "frame_difference", "ratios_of", "sample_ratios", "total_variation",
           "video_statistics"]

#: The statistics :func:`video_statistics` reports, by name.
STATISTICS = ("tv", "frame_diff")


def _check_videos(name: str, videos: object) -> torch.Tensor:
    """``videos`` as a float tensor ``(B, C, T, H, W)``, or a clear error."""
    if not isinstance(videos, torch.Tensor):
        raise TypeError(f"{name} must be a tensor (B, C, T, H, W), got {type(videos).__name__}")
    if videos.ndim != 5:
        raise ValueError(f"{name} must have 5 dimensions (B, C, T, H, W), got shape {tuple(videos.shape)}")
    if min(videos.shape) < 1:
        raise ValueError(f"{name} is empty: shape {tuple(videos.shape)}")
    return videos.double()


def total_variation(videos: torch.Tensor) -> float:
    """Mean absolute difference of neighbouring pixels, averaged over the vertical and horizontal
    directions: ``videos (B, C, T, H, W)`` -> a float (0 for a flat video; needs H, W >= 2).

    >>> v = torch.zeros(1, 1, 1, 2, 2); v[..., 0, 0] = 1.0          # one bright pixel of four
    >>> total_variation(v)                                            # (1/2 + 1/2) / 2
    0.5
    """
    v = _check_videos("videos", videos)
    if v.shape[-1] < 2 or v.shape[-2] < 2:
        raise ValueError(f"total_variation needs H and W >= 2, got shape {tuple(v.shape)}")
    dy = (v[..., 1:, :] - v[..., :-1, :]).abs().mean()
    dx = (v[..., :, 1:] - v[..., :, :-1]).abs().mean()
    return float((dy + dx) / 2)


def frame_difference(videos: torch.Tensor) -> float:
    """Mean absolute difference of consecutive frames: ``videos (B, C, T, H, W)`` -> a float (needs T >= 2).

    >>> v = torch.zeros(1, 1, 3, 2, 2); v[:, :, 1] = 1.0             # a flash in the middle frame
    >>> frame_difference(v)
    1.0
    """
    v = _check_videos("videos", videos)
    if v.shape[2] < 2:
        raise ValueError(f"frame_difference needs T >= 2 frames, got shape {tuple(v.shape)}")
    return float((v[:, :, 1:] - v[:, :, :-1]).abs().mean())


def _check_pair(samples: object, data: object) -> None:
    """Both video batches checked, and equal in ``(C, T, H, W)``."""
    _check_videos("samples", samples)
    _check_videos("data", data)
    assert isinstance(samples, torch.Tensor) and isinstance(data, torch.Tensor)  # checked just above
    if samples.shape[1:] != data.shape[1:]:
        raise ValueError(
            f"samples {tuple(samples.shape)} and data {tuple(data.shape)} must have the same (C, T, H, W); "
            "render the data at the samples' size"
        )


def video_statistics(videos: torch.Tensor) -> dict[str, float]:
    """``{"tv": total_variation, "frame_diff": frame_difference}`` of ``videos (B, C, T, H, W)``."""
    return {"tv": total_variation(videos), "frame_diff": frame_difference(videos)}


def sample_ratios(samples: torch.Tensor, data: torch.Tensor) -> dict[str, float]:
    """Each of :data:`STATISTICS` of ``samples`` divided by the same statistic of ``data``.

    ``samples (B, C, T, H, W)`` and ``data (B', C, T, H, W)`` must agree in everything but the number of
    videos. 1 means the samples have the data's detail (``tv``) and motion (``frame_diff``); noisy
    samples are above 1, blurred or frozen ones below.

    >>> data = torch.rand(4, 3, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> sample_ratios(data, data)
    {'tv': 1.0, 'frame_diff': 1.0}
    """
    _check_pair(samples, data)
    s, d = video_statistics(samples), video_statistics(data)
    for name, value in d.items():
        if value == 0:
            raise ValueError(f"data has {name} = 0 (a constant video); there is nothing to compare with")
    return {name: s[name] / d[name] for name in STATISTICS}


#: What :func:`behaviour_ratios` reports, by name.
BEHAVIOUR = ("speed", "scale", "count", "loops", "data_loops")


def _median(values: torch.Tensor) -> float:
    """Median of the finite entries of ``values (B,)``; NaN when there are none."""
    finite = values[torch.isfinite(values)]
    return float(finite.quantile(0.5)) if finite.numel() else math.nan


def behaviour_ratios(samples: torch.Tensor, data: torch.Tensor) -> dict[str, float]:
    """What the objects of ``samples`` do, relative to ``data``; both ``(B, C, T, H, W)``, equal but for B.

    ``speed``, ``scale``: median over videos of :func:`cogpe.behaviour.object_speed` and
    :func:`~cogpe.behaviour.object_scale` (frame sides) divided by the same median of the data;
    ``count``: mean objects per frame (:func:`~cogpe.behaviour.object_count`) over the data's;
    ``loops`` and ``data_loops``: the share of sample and data videos with a loop period
    (:func:`~cogpe.behaviour.loop_period`; both 0 for T < 3). A ratio is NaN where nothing could be
    measured (no object found, or a single frame for the speed). Each set is measured once
    (:func:`cogpe.behaviour.measure`); :func:`ratios_of` takes the measurements themselves.
    """
    _check_pair(samples, data)
    return ratios_of(measure(samples), measure(data))


def ratios_of(samples: Behaviour, data: Behaviour) -> dict[str, float]:
    """:func:`behaviour_ratios` of two :func:`cogpe.behaviour.measure` results (samples, data) — so that
    one measurement of the data, or of one set of samples, serves several comparisons."""

    def ratio(s: torch.Tensor, d: torch.Tensor) -> float:
        reference = _median(d)
        return _median(s) / reference if reference > 0 else math.nan

    return {
        "speed": ratio(samples.speed.sides, data.speed.sides),
        "scale": ratio(samples.scale.sides, data.scale.sides),
        "count": float(samples.counts.double().mean() / data.counts.double().mean().clamp_min(1e-12)),
        "loops": float((samples.period > 0).double().mean()),
        "data_loops": float((data.period > 0).double().mean()),
    }
