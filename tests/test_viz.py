"""cogpe.viz: animations lay videos out as asked and render without any network resource."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

import matplotlib.pyplot as plt

from cogpe.viz import animate_videos, animation_html, kymograph, plot_frame_strips, plot_kymographs, plot_sample_rows

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


def test_kymograph_draws_a_moving_column_as_a_diagonal():
    video = -torch.ones(3, 6, 5, 8)
    for t in range(6):
        video[:, t, :, t] = 1.0  # a full-height column moving one pixel per frame
    k = kymograph(video)
    assert k.shape == (3, 6, 8)
    assert k[0].argmax(dim=1).tolist() == list(range(6))
    assert kymograph(video.transpose(2, 3), "height")[0].argmax(dim=1).tolist() == list(range(6))


@pytest.mark.parametrize("bad, match", [(torch.zeros(3, 4, 4), "video must be"), ("x", "video must be")])
def test_kymograph_rejects_non_videos(bad, match):
    with pytest.raises(ValueError, match=match):
        kymograph(bad)
    with pytest.raises(ValueError, match="axis"):
        kymograph(torch.zeros(3, 2, 4, 4), "time")


def test_frame_strips_cover_each_clip_from_first_to_last_frame():
    import matplotlib.pyplot as plt

    axes = plot_frame_strips({"short": torch.zeros(3, 4, 8, 8), "long": torch.zeros(3, 10, 8, 8)})
    assert axes.shape == (2, 4)
    assert [ax.get_xlabel() for ax in axes[-1]] == ["t=0", "t=3", "t=6", "t=9"]
    plt.close("all")
    axes = plot_kymographs({"a": torch.zeros(3, 4, 8, 8), "b": torch.zeros(3, 8, 8, 8)})
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    plt.close("all")
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_frame_strips({})
    with pytest.raises(ValueError, match=r"videos\['v'\]"):
        plot_kymographs({"v": torch.zeros(4, 4)})


def test_sample_rows_show_each_batch_at_its_own_size():
    rows = {"small": torch.zeros(3, 3, 2, 8, 8), "large": torch.ones(10, 3, 2, 16, 16)}
    axes = plot_sample_rows(rows, videos=4, frame=1)
    assert axes.shape == (2, 4)
    assert axes[0, 0].images[0].get_array().shape == (8, 8, 3) and axes[1, 3].images[0].get_array().shape[:2] == (16, 16)
    assert not axes[0, 3].images and not axes[0, 3].axison  # three videos: the fourth panel is empty
    plt.close("all")


@pytest.mark.parametrize("rows, match", [({}, "non-empty"), ({"a": torch.zeros(2, 3, 8, 8)}, "batch"),
                                         ({"a": torch.zeros(2, 3, 1, 8, 8)}, "frame 1")])
def test_sample_rows_reject_bad_input(rows, match):
    with pytest.raises(ValueError, match=match):
        plot_sample_rows(rows, frame=1 if "frame" in match else 0)
