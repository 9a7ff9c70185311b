"""Interactive explorers for the notebooks (ipywidgets; the API common to ipywidgets 7.7 and 8).

Each function returns a widget: controls on top, a figure from :mod:`cogpe.viz` below that redraws when
a control moves. In the static book the saved widget state shows the figure at the default setting;
the chapters also draw that figure directly.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["coverage_explorer", "interpolation_explorer", "strategy_explorer"]


# The explorers return an ipywidgets.VBox; ipywidgets has no type information, hence Any.
def _explorer(draw: Callable[..., object], controls: dict[str, Any]) -> Any:
    """``controls`` -> one VBox: the controls in a row, then an output redrawn by ``draw(**values)``."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(**values: Any) -> None:
        draw(**values)
        plt.show()

    output = widgets.interactive_output(show, controls)
    return widgets.VBox([widgets.HBox(list(controls.values())), output])


def interpolation_explorer(n_train: int = 16, n_new: int = 30, dim: int = 64) -> Any:
    """Slide the index-division factor ``s``: positions ``i/s`` and their sincos similarity (chapter 5)."""
    import ipywidgets as widgets

    from .viz import plot_interpolation

    controls = {
        "s": widgets.FloatSlider(value=n_new / n_train, min=0.5, max=4.0, step=0.025, description="s"),
        "n_new": widgets.IntSlider(value=n_new, min=2, max=90, description="new tokens"),
    }
    return _explorer(lambda s, n_new: plot_interpolation(s, n_new, n_train, dim), controls)


def coverage_explorer(dim: int = 24, n_train: int = 30, n_new: int = 48, theta: float = 10000.0) -> Any:
    """Grid size against per-pair wavelength: which RoPE pairs leave their trained range (chapter 4)."""
    import ipywidgets as widgets

    from .coverage import angle_coverage
    from .grids import arange_positions
    from .rope import rope_frequencies
    from .viz import plot_coverage

    def draw(dim: int, n_train: int, n_new: int, theta: float) -> None:
        cov = angle_coverage(rope_frequencies(dim, theta), arange_positions(n_train), arange_positions(n_new))
        plot_coverage(cov, title=f"extrapolation, d = {dim}: {n_train} -> {n_new} tokens, "
                                 f"{int(cov.unseen.sum())} pairs meet unseen angles")

    controls = {
        "dim": widgets.Dropdown(options=[16, 24, 32, 64], value=dim, description="d"),
        "n_train": widgets.IntSlider(value=n_train, min=2, max=120, description="trained"),
        "n_new": widgets.IntSlider(value=n_new, min=2, max=240, description="new"),
        "theta": widgets.Dropdown(options=[256.0, 10000.0, 1e6], value=theta, description="θ"),
    }
    return _explorer(draw, controls)


def strategy_explorer(strategy: str = "extrapolate", n_train: int = 30, n_new: int = 48, dim: int = 24) -> Any:
    """Pick a RoPE scaling strategy: its frequencies and angle coverage at a new size (chapter 6)."""
    import ipywidgets as widgets

    from .strategy import ENCODINGS
    from .viz import plot_strategy

    controls = {
        "strategy": widgets.Dropdown(options=list(ENCODINGS["rope"]), value=strategy, description="strategy"),
        "n_train": widgets.IntSlider(value=n_train, min=2, max=120, description="trained"),
        "n_new": widgets.IntSlider(value=n_new, min=2, max=240, description="new"),
    }
    return _explorer(lambda strategy, n_train, n_new: plot_strategy(strategy, n_train, n_new, dim), controls)
