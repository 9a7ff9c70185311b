"""The built book reads offline: nothing from a CDN, math typeset, figures present, launch buttons set.

Runs on ``_build/html``, which ``make test`` builds first (``make book``); skipped, saying so, where
there is no build. The browser checks load pages from ``file://`` in headless Chromium (Debian's
``chromium``, which ``make test`` installs when it can; skipped, saying so, where it is not on PATH), so
any asset that is not in the build fails them. Screenshots go to ``_build/screenshots/`` for people.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

bs4 = pytest.importorskip("bs4", reason="beautifulsoup4 is installed by the test extra: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
REPOSITORY = "cogpe/cogpe"  # repository.url in _config.yml

pytestmark = pytest.mark.skipif(
    not (HTML / "book" / "intro.html").is_file(),
    reason=f"no built book in {HTML}: run `make book` first (`make test` does)",
)


def _pages() -> list[Path]:
    if not HTML.is_dir():
        return []
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.relative_to(HTML).parts)


def _soup(path: Path):
    return bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _local_target(page: Path, url: str) -> Path | None:
    """The file a relative URL of ``page`` points to; None for remote URLs and data: URIs."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith("//"):
        return None
    return (page.parent / unquote(parts.path)).resolve()


def _is_remote(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url.strip()))


def _chapter(prefix: str) -> list[str]:
    return [p.relative_to(HTML).as_posix() for p in sorted((HTML / "notebooks").glob(f"{prefix}_*.html"))]


def _widget_pages() -> list[str]:
    return [
        p.relative_to(HTML).as_posix()
        for p in _pages()
        if "application/vnd.jupyter.widget-state+json" in p.read_text(encoding="utf-8")
    ]


# The pages the issue asks to look at (intro, chapters 2 and 5, when they exist), plus every page with
# saved widget state.
BROWSER_PAGES = list(dict.fromkeys(["book/intro.html", *_chapter("02"), *_chapter("05"), *_widget_pages()]))


# ---------------------------------------------------------------------------------------------------
# Static checks of the built HTML


def test_no_page_loads_anything_from_the_network():
    offenders = []
    for page in _pages():
        soup = _soup(page)
        for tag in soup.find_all("script", src=True):
            if _is_remote(tag["src"]):
                offenders.append(f"{page.relative_to(HTML)}: <script src={tag['src']}>")
        for tag in soup.find_all("link", href=True):
            rel = " ".join(tag.get("rel", []))
            if ("stylesheet" in rel or "preload" in rel or tag.get("as")) and _is_remote(tag["href"]):
                offenders.append(f"{page.relative_to(HTML)}: <link rel={rel} href={tag['href']}>")
        for tag in soup.find_all(["script", "link"], attrs={"integrity": True}):
            offenders.append(f"{page.relative_to(HTML)}: integrity= on {tag.name} (a CDN copy?)")
    assert not offenders, "the book must render offline:\n" + "\n".join(offenders[:20])


def test_local_scripts_and_styles_exist():
    missing = set()
    for page in _pages():
        soup = _soup(page)
        urls = [t["src"] for t in soup.find_all("script", src=True)]
        urls += [t["href"] for t in soup.find_all("link", href=True) if "stylesheet" in t.get("rel", [])]
        for url in urls:
            target = _local_target(page, url)
            if target is not None and not target.is_file():
                missing.add(f"{page.relative_to(HTML)}: {url}")
    assert not missing, "missing assets (is _vendor/ fetched? `make vendor`):\n" + "\n".join(sorted(missing))


def test_mathjax_is_the_bundled_copy():
    src = [t["src"] for t in _soup(HTML / "book" / "intro.html").find_all("script", src=True) if "mathjax" in t["src"]]
    assert src and all(not _is_remote(s) for s in src), f"MathJax must load from _static, got {src}"
    assert (HTML / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir(), "MathJax fonts missing"


def test_every_image_is_a_local_file():
    problems = []
    for page in _pages():
        for img in _soup(page).find_all("img", src=True):
            src = img["src"]
            if src.startswith("data:"):
                continue
            target = _local_target(page, src)
            if target is None:
                problems.append(f"{page.relative_to(HTML)}: remote image {src} (not shown offline)")
            elif not target.is_file():
                problems.append(f"{page.relative_to(HTML)}: {src} does not exist")
    assert not problems, "\n".join(problems[:20])


def test_notebook_pages_have_colab_and_binder_buttons():
    pages = sorted((HTML / "notebooks").glob("*.html")) if (HTML / "notebooks").is_dir() else []
    for page in pages:
        links = [a["href"] for a in _soup(page).find_all("a", href=True)]
        name = f"notebooks/{page.stem}.ipynb"
        colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/{name}"
        assert colab in links, f"{page.name}: no Colab launch button to {colab}"
        assert any(h.startswith(f"https://mybinder.org/v2/gh/{REPOSITORY}/main") and name in h for h in links), (
            f"{page.name}: no Binder launch button"
        )


def test_widget_pages_load_the_bundled_widget_manager():
    for rel in _widget_pages():
        srcs = [t["src"] for t in _soup(HTML / rel).find_all("script", src=True)]
        assert any("requirejs/require.js" in s for s in srcs), f"{rel}: require.js not loaded from _static"
        assert any("html-manager/embed-amd.js" in s for s in srcs), f"{rel}: widget manager not loaded from _static"


# ---------------------------------------------------------------------------------------------------
# Headless Chromium


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "headless Chromium is not on PATH, so the rendered pages were not checked in a browser. "
        "`make test` installs Debian's chromium when it runs as root with apt-get; otherwise "
        "`apt-get install chromium` (or any Chrome on PATH) enables these tests."
    )


def _run_chromium(url: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="cogpe-chromium-") as profile:
        cmd = [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-quic", "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--virtual-time-budget=15000", *args, url,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, "LANG": "C.UTF-8"})


def _visible_text(soup) -> str:
    """Text a reader sees as prose: code, scripts and typeset math removed."""
    for tag in soup.find_all(["script", "style", "noscript", "pre", "code", "textarea", "mjx-container"]):
        tag.decompose()
    return soup.get_text(" ")


@pytest.fixture(scope="module")
def rendered():
    """Dumped DOM of each browser page after MathJax and the widget manager ran: {page: soup}."""
    cache = {}

    def get(rel: str):
        if rel not in cache:
            proc = _run_chromium((HTML / rel).as_uri(), "--dump-dom")
            assert proc.returncode == 0 and "<html" in proc.stdout, f"chromium failed on {rel}:\n{proc.stderr[-2000:]}"
            cache[rel] = bs4.BeautifulSoup(proc.stdout, "html.parser")
        return cache[rel]

    return get


@pytest.mark.parametrize("rel", BROWSER_PAGES)
def test_math_is_typeset(rel, rendered):
    math_in_source = len(_soup(HTML / rel).select(".math"))
    dom = rendered(rel)
    math = dom.select(".math")
    assert len(math) == math_in_source
    if not math:
        pytest.skip(f"{rel} has no math")
    untypeset = [m.get_text()[:80] for m in math if m.find("mjx-container") is None]
    assert not untypeset, f"{rel}: {len(untypeset)} of {len(math)} formulas not typeset by MathJax: {untypeset[:3]}"


@pytest.mark.parametrize("rel", BROWSER_PAGES)
def test_no_raw_tex_delimiters_in_the_text(rel, rendered):
    text = _visible_text(bs4.BeautifulSoup(str(rendered(rel)), "html.parser"))
    raw = [m.group(0) for m in re.finditer(r".{0,30}(\$\$|\\\[|\\\]|\\\(|\\\)|\\begin\{).{0,30}", text)]
    assert not raw, f"{rel}: raw TeX left in the rendered text: {raw[:5]}"


@pytest.mark.parametrize("rel", _widget_pages())
def test_saved_widgets_render(rel, rendered):
    views = _soup(HTML / rel).find_all("script", type="application/vnd.jupyter.widget-view+json")
    widgets = rendered(rel).select(".jupyter-widgets")
    assert views and widgets, f"{rel}: {len(views)} saved widget views, {len(widgets)} rendered by the widget manager"


@pytest.mark.parametrize("rel", BROWSER_PAGES)
def test_screenshot(rel):
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (rel.replace("/", "__").removesuffix(".html") + ".png")
    shot.unlink(missing_ok=True)
    proc = _run_chromium(
        (HTML / rel).as_uri(), "--window-size=1280,1600", "--run-all-compositor-stages-before-draw", f"--screenshot={shot}"
    )
    assert proc.returncode == 0 and shot.is_file(), f"no screenshot of {rel}:\n{proc.stderr[-2000:]}"
    assert shot.stat().st_size > 20_000, f"{shot} is suspiciously small (blank page?)"
