"""The public surface: names, documentation a user reads with help(), and a quiet import."""

import inspect
import pydoc
import subprocess
import sys

import cogpe


def test_all_names_exist_and_are_documented():
    for name in cogpe.__all__:
        obj = getattr(cogpe, name)
        if callable(obj) and not isinstance(obj, type(cogpe)):
            assert inspect.getdoc(obj), f"cogpe.{name} has no docstring"


def test_design_names_are_public():
    for name in ("sincos_1d", "sincos_2d", "sincos_3d", "rope_1d", "rope_3d", "apply_rope", "RotaryEmbedding3D",
                 "crop_region", "linspace_positions", "resample_table"):
        assert name in cogpe.__all__


def test_help_of_rope_3d_shows_shapes_layout_and_chapter():
    text = pydoc.render_doc(cogpe.rope_3d, renderer=pydoc.plaintext)
    assert "(T*H*W, head_dim)" in text
    assert "[t (hd/4) | h (3hd/8) | w (3hd/8)]" in text
    assert "interleaved" in text and "(θ0, θ0, θ1, θ1, …)" in text
    assert "chapter 3" in text


def test_import_has_no_side_effects():
    """Importing cogpe loads neither plotting, widgets nor diffusers, and prints nothing."""
    code = (
        "import sys, cogpe\n"
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'diffusers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
