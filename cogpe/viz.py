"""Figures the chapters draw: position tables, channel maps, kernels, token grids (matplotlib).

Every function takes an optional ``ax`` and returns it, so a notebook can lay several out in one
figure. matplotlib is imported when a function is called, never when :mod:`cogpe` is imported.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ._checks import check_choice, check_size

__all__ = [
    "animate_videos",
    "animation_html",
    "axis_strategy",
    "plot_lab_curves",
    "kymograph",
    "plot_channel_map",
    "plot_coverage",
    "plot_frame_strips",
    "plot_sample_rows",
    "plot_kymographs",
    "plot_interpolation",
    "plot_strategy",
    "plot_kernel",
    "plot_table",
    "plot_token_grid",
    "plot_wavelengths",
]


def _axes(ax, figsize=(6, 3)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_table(table: torch.Tensor, ax=None, *, title: str = "", positions_label: str = "position",
               cmap: str = "RdBu_r"):
    """Heatmap of a position table ``(N, D)``: one row per position, one column per channel."""
    ax = _axes(ax)
    image = ax.imshow(table.detach().cpu().float().numpy(), aspect="auto", cmap=cmap, vmin=-1, vmax=1,
                      interpolation="nearest")
    ax.set(xlabel="channel", ylabel=positions_label, title=title)
    ax.figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    return ax


def plot_channel_map(blocks: Sequence[tuple[str, int]], ax=None, *, title: str = ""):
    """A bar showing how ``D`` channels are split: ``blocks`` is ``[(label, width), …]`` in channel order."""
    import matplotlib.pyplot as plt

    ax = _axes(ax, figsize=(8, 1.4))
    colors = plt.get_cmap("tab20")(range(20))  # (20, 4) RGBA
    start = 0
    for i, (label, width) in enumerate(blocks):
        ax.barh(0, width, left=start, color=colors[i % len(colors)], edgecolor="black", height=0.8)
        ax.text(start + width / 2, 0, f"{label}\n{width}", ha="center", va="center", fontsize=8)
        start += width
    ax.set(xlim=(0, start), yticks=[], xlabel="channel", title=title)
    return ax


def plot_kernel(offsets: torch.Tensor, values: torch.Tensor, ax=None, *, label: str | None = None,
                title: str = ""):
    """Line plot of a similarity as a function of position offset: ``offsets (n,)``, ``values (n,)``."""
    ax = _axes(ax)
    ax.plot(offsets.cpu().numpy(), values.detach().cpu().numpy(), label=label)
    ax.set(xlabel="offset p − q", ylabel="similarity", title=title)
    ax.axhline(0, color="grey", lw=0.5)
    if label:
        ax.legend(fontsize=8)
    return ax


def plot_wavelengths(wavelengths: torch.Tensor, ax=None, *, windows: Sequence[tuple[str, float]] = (),
                     title: str = "", label: str | None = None):
    """Wavelength of each frequency pair on a log scale, with horizontal lines at ``windows`` (name, length)."""
    ax = _axes(ax)
    ax.semilogy(range(len(wavelengths)), wavelengths.cpu().numpy(), "o-", ms=3, label=label)
    for name, length in windows:
        ax.axhline(length, ls="--", lw=0.8, color="black")
        ax.text(len(wavelengths) - 1, length, f" {name}", va="bottom", ha="right", fontsize=8)
    ax.set(xlabel="frequency pair j", ylabel="wavelength (tokens)", title=title)
    if label:
        ax.legend(fontsize=8)
    return ax


def plot_token_grid(height: int, width: int, ax=None, *, patch: int = 1, title: str = "",
                    highlight: Sequence[tuple[int, int]] = ()):
    """A frame of ``height × width`` cells cut into ``patch × patch`` tokens; ``highlight`` marks (h, w) tokens."""
    from matplotlib.patches import Rectangle

    ax = _axes(ax, figsize=(4, 4 * height / max(width, 1)))
    for h in range(0, height, patch):
        for w in range(0, width, patch):
            on = (h // patch, w // patch) in set(highlight)
            ax.add_patch(Rectangle((w, h), patch, patch, fill=on, facecolor="tab:orange",
                                   edgecolor="black", lw=0.3))
    ax.set(xlim=(0, width), ylim=(height, 0), aspect="equal", title=title, xlabel="w", ylabel="h")
    return ax


def plot_coverage(coverage, ax=None, *, title: str = ""):
    """Turns each pair makes in training and at the new size (a :class:`cogpe.coverage.Coverage`).

    Green: complete pairs (a full turn in training); red: pairs that now meet unseen angles; grey: the rest.
    """
    import math

    ax = _axes(ax, figsize=(7, 3))
    j = range(len(coverage.wavelengths))
    trained = (coverage.trained_max / (2 * math.pi)).numpy()
    new = (coverage.new_max / (2 * math.pi)).numpy()
    colors = ["tab:green" if c else "tab:red" if u else "tab:gray"
              for c, u in zip(coverage.complete.tolist(), coverage.unseen.tolist())]
    ax.bar([x - 0.2 for x in j], trained, width=0.4, color="lightgray", edgecolor="black", label="trained")
    ax.bar([x + 0.2 for x in j], new, width=0.4, color=colors, edgecolor="black", label="new size")
    ax.axhline(1.0, ls="--", color="black", lw=0.8)
    ax.set_yscale("log")
    ax.set(xlabel="frequency pair j", ylabel="largest angle (turns)", title=title)
    ax.legend(fontsize=8)
    return ax


def plot_interpolation(s: float, n_new: int, n_train: int, dim: int = 64, axes=None):
    """Index division by ``s``: new positions ``i/s`` against the trained integers, and the similarity
    ``e(i/s)·e(j)`` of each new token to each trained position (sincos, ``dim`` channels)."""
    import matplotlib.pyplot as plt

    from .grids import arange_positions, divided_positions
    from .sincos import sincos_1d

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    ax_pos, ax_sim = axes
    new = divided_positions(n_new, s)
    trained = arange_positions(n_train)
    ax_pos.plot(new.numpy(), [1] * n_new, "o", ms=4, label=f"{n_new} new tokens: i/{s:.3g}")
    ax_pos.plot(trained.numpy(), [0] * n_train, "s", ms=4, color="black", label=f"{n_train} trained positions")
    ax_pos.axvspan(0, n_train - 1, color="tab:green", alpha=0.1)
    ax_pos.set(yticks=[0, 1], yticklabels=["trained", "new"], ylim=(-0.6, 1.6), xlabel="position",
               title=f"positions (max {new[-1].item():.2f} vs trained {n_train - 1})")
    ax_pos.legend(fontsize=7, loc="upper right")
    sim = sincos_1d(new, dim) @ sincos_1d(trained, dim).T / (dim // 2)  # (n_new, n_train)
    image = ax_sim.imshow(sim.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax_sim.set(xlabel="trained position j", ylabel="new token i", title="similarity e(i/s)·e(j) / (d/2)")
    ax_sim.figure.colorbar(image, ax=ax_sim, fraction=0.04)
    return axes


def axis_strategy(strategy: str, n_train: int, n_new: int, dim: int = 24, theta: float = 10000.0, **options):
    """Positions ``(n_new,)`` and frequencies ``(dim/2,)`` one axis of ``dim`` channels gets from a strategy
    (:meth:`cogpe.strategy.Strategy.axis`)."""
    from .strategy import as_strategy

    return as_strategy(strategy, **options).axis(n_new, n_train, dim, theta)


def plot_strategy(strategy: str, n_train: int, n_new: int, dim: int = 24, theta: float = 10000.0, axes=None,
                  **options):
    """What a strategy does to one axis: frequency ratio ``θ'_j/θ_j`` per pair, and the turns each pair
    makes over the new positions against the trained ones."""
    import matplotlib.pyplot as plt

    from .coverage import angle_coverage
    from .grids import arange_positions
    from .rope import rope_frequencies

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
    ax_f, ax_c = axes
    positions, freqs = axis_strategy(strategy, n_train, n_new, dim, theta, **options)
    base = rope_frequencies(dim, theta)
    ax_f.plot((freqs / base).numpy(), "o-", ms=4)
    ax_f.axhline(1.0, color="grey", lw=0.5)
    ax_f.axhline(n_train / n_new, color="grey", lw=0.5, ls="--")
    ax_f.set(xlabel="frequency pair j", ylabel="θ'_j / θ_j", ylim=(0, 1.1),
             title=f"{strategy}: frequencies ({n_train} -> {n_new} tokens)")
    coverage = angle_coverage(base, arange_positions(n_train), positions, new_freqs=freqs)
    plot_coverage(coverage, ax=ax_c, title=f"positions {positions.min().item():.2f} .. {positions.max().item():.2f}")
    return axes


def _to_image(frame: torch.Tensor):
    """``(C, H, W)`` in [-1, 1] -> ``(H, W, C)`` numpy in [0, 1] (grey for one channel)."""
    img = ((frame.detach().cpu().float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()  # (H, W, C)
    return img[..., 0] if img.shape[-1] == 1 else img


def animate_videos(videos: dict, *, fps: int = 4, size: float = 1.8, ncols: int | None = None,
                   dpi: float | None = None):
    """A matplotlib animation of videos side by side: ``videos`` maps a title to ``(C, T, H, W)`` in [-1, 1].

    All videos must have the same number of frames. ``ncols`` wraps them into rows of that many (default:
    one row); ``size`` is each panel's width in inches and ``dpi`` the figure's resolution (default
    matplotlib's; lower keeps a notebook that embeds many frames small). Show it in a notebook with
    ``IPython.display.HTML(animation_html(anim))``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    names = list(videos)
    if not names:
        raise ValueError("videos is empty; pass a dict mapping titles to (C, T, H, W) videos")
    frames = {v.shape[1] for v in videos.values()}
    if len(frames) != 1:
        raise ValueError(f"videos must have the same number of frames, got {sorted(frames)}")
    (n_frames,) = frames
    ncols = len(names) if ncols is None else check_size("ncols", ncols, what="columns")
    ncols = min(ncols, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.4) * nrows), squeeze=False,
                             layout="constrained", dpi=dpi)
    images = []
    for ax, name in zip(axes.flat, names):
        images.append(ax.imshow(_to_image(videos[name][:, 0]), interpolation="nearest"))
        ax.set(title=name, xticks=[], yticks=[])
        ax.title.set_fontsize(8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")

    def update(t):
        for image, name in zip(images, names):
            image.set_data(_to_image(videos[name][:, t]))
        return images

    anim = FuncAnimation(fig, update, frames=n_frames, interval=1000 / fps, blit=False)
    plt.close(fig)
    return anim


def _check_video_dict(videos: object) -> list[str]:
    if not isinstance(videos, dict) or not videos:
        raise ValueError("videos must be a non-empty dict mapping titles to (C, T, H, W) videos")
    for name, v in videos.items():
        if not isinstance(v, torch.Tensor) or v.ndim != 4:
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(f"videos[{name!r}] must be a (C, T, H, W) tensor, got {shape}")
    return list(videos)


def plot_frame_strips(videos: dict, *, frames: int | None = None, size: float = 0.9, axes=None):
    """Each video as one row of frames: ``videos`` maps a title to ``(C, T, H, W)`` in [-1, 1].

    ``frames`` (default: the shortest video's length) evenly spaced frames of every video are shown, the
    first and the last included, so rows of different lengths cover each clip from start to end. Returns
    the ``(rows, frames)`` array of axes.
    """
    import matplotlib.pyplot as plt

    names = _check_video_dict(videos)
    shortest = min(v.shape[1] for v in videos.values())
    n = shortest if frames is None else check_size("frames", frames, what="frames")
    if axes is None:
        _, axes = plt.subplots(len(names), n, figsize=(size * n, size * len(names) + 0.2), squeeze=False,
                               layout="constrained")
    for r, name in enumerate(names):
        video = videos[name]
        picks = torch.linspace(0, video.shape[1] - 1, n).round().long().tolist()
        for c, t in enumerate(picks):
            axes[r, c].imshow(_to_image(video[:, t]), interpolation="nearest")
            axes[r, c].set(xticks=[], yticks=[])
            if r == len(names) - 1:
                axes[r, c].set_xlabel(f"t={t}", fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    return axes


def plot_sample_rows(rows: dict, *, videos: int = 8, frame: int = 0, size: float = 0.9, axes=None):
    """One row per set of videos, the first ``videos`` of each side by side at frame ``frame``: ``rows``
    maps a title to a batch ``(n, C, T, H, W)`` in [-1, 1] (sizes may differ between rows; each panel
    shows its video's own pixels). Returns the ``(rows, videos)`` array of axes; a row with fewer
    videos leaves its last panels empty."""
    import matplotlib.pyplot as plt

    if not isinstance(rows, dict) or not rows:
        raise ValueError("rows must be a non-empty dict mapping titles to (n, C, T, H, W) batches")
    for name, batch in rows.items():
        if not isinstance(batch, torch.Tensor) or batch.ndim != 5 or not 0 <= frame < batch.shape[2]:
            shape = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
            raise ValueError(f"rows[{name!r}] must be an (n, C, T, H, W) batch with frame {frame}, got {shape}")
    n = check_size("videos", videos, what="videos")
    if axes is None:
        _, axes = plt.subplots(len(rows), n, figsize=(size * n, size * len(rows) + 0.2), squeeze=False,
                               layout="constrained")
    for r, (name, batch) in enumerate(rows.items()):
        for c in range(n):
            axes[r, c].set(xticks=[], yticks=[])
            if c < batch.shape[0]:
                axes[r, c].imshow(_to_image(batch[c, :, frame]), interpolation="nearest")
            else:
                axes[r, c].axis("off")
        axes[r, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    return axes


def kymograph(video: torch.Tensor, axis: str = "width") -> torch.Tensor:
    """The x–t picture of ``video (C, T, H, W)``: each frame averaged over the other spatial axis, frames
    stacked downwards — ``(C, T, W)`` for ``axis="width"``, ``(C, T, H)`` for ``"height"``.

    An object moving at constant speed along ``axis`` draws a straight line whose slope is its speed: a
    slowed video draws steeper (more vertical) lines, a looping one repeats its pattern down the picture.

    >>> kymograph(torch.zeros(3, 5, 4, 6)).shape
    torch.Size([3, 5, 6])
    """
    check_choice("axis", axis, ("width", "height"))
    if not isinstance(video, torch.Tensor) or video.ndim != 4:
        raise ValueError(f"video must be a (C, T, H, W) tensor, got {getattr(video, 'shape', type(video).__name__)}")
    return video.float().mean(dim=2 if axis == "width" else 3)


def plot_kymographs(videos: dict, *, axis: str = "width", size: float = 1.6, axes=None):
    """:func:`kymograph` of each video side by side (x across, time downwards); ``videos`` maps a title
    to ``(C, T, H, W)`` in [-1, 1]. Returns the axes."""
    import matplotlib.pyplot as plt

    names = _check_video_dict(videos)
    frames = max(v.shape[1] for v in videos.values())
    if axes is None:
        aspect = frames / max(v.shape[3 if axis == "width" else 2] for v in videos.values())
        _, axes = plt.subplots(1, len(names), figsize=(size * len(names), size * min(aspect, 3) + 0.5),
                               squeeze=False, layout="constrained")
        axes = axes[0]
    for ax, name in zip(axes, names):
        ax.imshow(_to_image(kymograph(videos[name], axis)), interpolation="nearest", aspect="auto")
        ax.set(title=name, xlabel=axis, xticks=[])
        ax.title.set_fontsize(7)
    axes[0].set_ylabel("frame")
    return axes


def plot_lab_curves(results: dict, probe: str = "zoom", ax=None, *, strategies=None, title: str | None = None):
    """Held-out loss on ``probe`` over the last stage of a :func:`cogpe.lab.run_lab` result: mean ± std
    over seeds per strategy, against the stage step (0 = zero-shot right after the switch)."""
    import statistics

    ax = _axes(ax, figsize=(7, 3.4))
    for strategy in strategies or [s for s in results["runs"] if s != "baseline"]:
        by_step: dict[int, list[float]] = {}
        for run in results["runs"][strategy].values():
            last = max(r["stage"] for r in run["eval"])
            for r in run["eval"]:
                if r["stage"] == last and r["probe"] == probe:
                    by_step.setdefault(r["stage_step"], []).append(r["loss"])
        steps = sorted(by_step)
        mean = [statistics.fmean(by_step[k]) for k in steps]
        std = [statistics.stdev(by_step[k]) if len(by_step[k]) > 1 else 0.0 for k in steps]
        ax.errorbar(steps, mean, yerr=std, marker="o", ms=3, capsize=2, label=strategy)
    ax.set(xlabel="step of the high-resolution stage", ylabel=f"held-out loss ({probe})",
           title=title or f"after the switch: {probe} probe, mean ± std over seeds")
    ax.legend(fontsize=7, ncol=2)
    return ax


# Symbols from blocks every common font covers (geometric shapes, arrows, dingbats); the media-control
# symbols U+23E9..U+23FA (⏮ ⏭) are missing from many, which would show empty boxes.
_FA_ICONS = {
    "fa-minus": "−", "fa-plus": "+", "fa-fast-backward": "|◂◂", "fa-step-backward": "◂|",
    "fa-play": "▶", "fa-pause": "❚❚", "fa-step-forward": "|▸", "fa-fast-forward": "▸▸|", "fa-repeat": "↻",
}


def animation_html(anim, *, frame_format: str = "png") -> str:
    """``anim.to_jshtml()`` without its icon font from a CDN: the player's buttons get text symbols, so
    the page renders offline. ``frame_format="jpeg"`` embeds smaller, lossy frames (for many panels)."""
    import re

    import matplotlib.pyplot as plt

    check_choice("frame_format", frame_format, ("png", "jpeg"))
    with plt.rc_context({"animation.frame_format": frame_format}):
        html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", anim.to_jshtml())

    def icon(match):
        names = match.group(1).split()
        return next((_FA_ICONS[n] for n in names if n in _FA_ICONS), "")

    return re.sub(r'<i class="([^"]*)"\s*></i>', icon, html)
