"""Sphinx glue for the cogpe book (loaded through ``sphinx.local_extensions`` in ``_config.yml``).

- Fails early, with the command that fixes it, when the offline JavaScript (MathJax, require.js, the
  ipywidgets HTML manager) has not been fetched into ``_vendor/`` (``make vendor``; ``make book`` runs it).
- Completes the API reference: every public module of ``cogpe/`` that ``book/api.md`` does not document
  yet gets an ``automodule`` section appended, so a new module is never missing from the book.
- Resolves cross-references to the public top-level names (``:func:`cogpe.sincos_3d```) to the
  submodule that documents them (``cogpe.sincos.sincos_3d``).
- Drops the docstring autodoc borrows from a builtin type for a module constant without a doc comment
  (``PRESETS: dict`` would otherwise be documented with ``dict``'s own docstring).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from sphinx.errors import ConfigError

# What the pages load from html_static_path (see _config.yml); checked before anything is built.
OFFLINE_ASSETS = ("mathjax/tex-mml-chtml.js", "requirejs/require.js", "html-manager/embed-amd.js")


def _check_offline_assets(app, config) -> None:
    vendor = Path(app.confdir, "_vendor")
    missing = [name for name in OFFLINE_ASSETS if not (vendor / name).is_file()]
    if missing:
        raise ConfigError(
            f"offline JavaScript missing from {vendor}: {', '.join(missing)}. "
            "Run `make vendor` (needs npm), or `make book`, which runs it."
        )


API_PAGE = "book/api"


def _undocumented_modules(app, text: str) -> list[str]:
    package = Path(app.confdir, "cogpe")
    names = sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("_"))
    return [name for name in names if f"automodule:: cogpe.{name}\n" not in text]


def _complete_api_page(app, docname, source) -> None:
    if docname != API_PAGE:
        return
    for name in _undocumented_modules(app, source[0]):
        source[0] += (
            f"\n## `cogpe.{name}`\n\n```{{eval-rst}}\n.. automodule:: cogpe.{name}\n"
            "   :members:\n   :undoc-members:\n```\n"
        )


def _api_page_is_always_outdated(app, env, added, changed, removed):
    # Its content depends on the files in cogpe/, which Sphinx does not track.
    return [API_PAGE] if API_PAGE in env.found_docs else []


def _resolve_reexports(app, env, node, contnode):
    """``cogpe.X`` (or ``cogpe.sub.X`` re-exported from elsewhere) -> where X is defined and documented."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("cogpe."):
        return None
    module, _, name = target.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    home = getattr(obj, "__module__", None)
    if not home or not home.startswith("cogpe") or home == module:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], f"{home}.{name}", node, contnode)


def _drop_builtin_docstrings(app, what, name, obj, options, lines) -> None:
    if what in ("data", "attribute") and lines and getattr(obj, "__doc__", None) == getattr(type(obj), "__doc__", 0):
        lines.clear()


def setup(app):
    app.connect("config-inited", _check_offline_assets)
    app.connect("source-read", _complete_api_page)
    app.connect("env-get-outdated", _api_page_is_always_outdated)
    app.connect("autodoc-process-docstring", _drop_builtin_docstrings)
    app.connect("missing-reference", _resolve_reexports)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
