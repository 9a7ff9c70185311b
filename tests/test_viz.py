"""cogpe.viz: animations lay videos out as asked and render without any network resource."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from cogpe.viz import animate_videos, animation_html

# The layout tests look at the figure without rendering the animation.
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


def videos(n, frames=3):
    return {f"v{i}": torch.rand(3, frames, 8, 8) * 2 - 1 for i in range(n)}


@pytest.mark.parametrize("n, ncols, shape", [(3, None, (1, 3)), (5, 2, (3, 2)), (4, 4, (1, 4)), (2, 9, (1, 2))])
def test_layout(n, ncols, shape):
    anim = animate_videos(videos(n), ncols=ncols)
    axes = anim._fig.axes
    assert len(axes) == shape[0] * shape[1]
    assert [ax.get_title() for ax in axes if ax.axison] == [f"v{i}" for i in range(n)]


def test_dpi_sets_the_figure_resolution():
    assert animate_videos(videos(2), dpi=50)._fig.dpi == 50


@pytest.mark.parametrize("frame_format", ["png", "jpeg"])
def test_html_has_no_cdn_link(frame_format):
    html = animation_html(animate_videos(videos(2, frames=2)), frame_format=frame_format)
    assert "<img" in html and "font-awesome" not in html and "https://" not in html
    assert f"data:image/{frame_format};base64" in html
    assert not any("\u23e9" <= ch <= "\u23fa" for ch in html)  # media-control symbols many fonts lack
    assert "▸▸|" in html and "|◂◂" in html  # first / last frame buttons


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: animate_videos({}), ValueError, "videos is empty"),
        (lambda: animate_videos({"a": torch.zeros(3, 2, 4, 4), "b": torch.zeros(3, 3, 4, 4)}), ValueError,
         r"same number of frames, got \[2, 3\]"),
        (lambda: animate_videos(videos(2), ncols=0), ValueError, "ncols must be an integer >= 1, got 0"),
        (lambda: animation_html(animate_videos(videos(1)), frame_format="gif"), ValueError, "unknown frame_format 'gif'"),
    ],
)
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()
