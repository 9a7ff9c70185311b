"""Figures the chapters draw: position tables, channel maps, kernels, token grids (matplotlib).

Every function takes an optional ``ax`` and returns it, so a notebook can lay several out in one
figure. matplotlib is imported when a function is called, never when :mod:`cogpe` is imported.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = [
    "plot_channel_map",
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
    colors = plt.get_cmap("tab20").colors
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
