# Two commands do all set-up on a fresh machine (see README): `make book` and `make test`.
# Both work from a fresh clone with only python3, node/npm (and, for the screenshot tests, Debian's apt).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build is installed before anything else so that no dependency pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

# The book renders offline: MathJax, require.js and the ipywidgets HTML manager are fetched from npm
# (tarballs only, no dependencies) into the git-ignored $(VENDOR) folder, which _config.yml copies into
# _build/html/_static. html-manager and require.js are the versions myst-nb links from its CDNs.
NPM     ?= npm
VENDOR  := _vendor
MATHJAX      := mathjax@3.2.2
HTML_MANAGER := @jupyter-widgets/html-manager@1.0.6
REQUIREJS    := requirejs@2.3.4
VENDOR_STAMP := $(VENDOR)/.$(subst /,_,$(MATHJAX)_$(HTML_MANAGER)_$(REQUIREJS))

.PHONY: install vendor chromium test test-floor unit typecheck book bench lab-gpu clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[viz,test,book]"
	touch $(STAMP)

vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP):
	@command -v $(NPM) >/dev/null 2>&1 || { echo "make: '$(NPM)' not found: install node/npm to fetch MathJax and the widget manager for the offline book" >&2; exit 1; }
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/.npm $(VENDOR)/mathjax $(VENDOR)/html-manager $(VENDOR)/requirejs
	cd $(VENDOR)/.npm && $(NPM) pack --silent --loglevel=error "$(MATHJAX)" "$(HTML_MANAGER)" "$(REQUIREJS)" >/dev/null
	tar -xzf $(VENDOR)/.npm/mathjax-*.tgz -C $(VENDOR)/mathjax --strip-components=2 package/es5
	tar -xzf $(VENDOR)/.npm/mathjax-*.tgz -C $(VENDOR)/mathjax --strip-components=1 package/LICENSE
	tar -xzf $(VENDOR)/.npm/jupyter-widgets-html-manager-*.tgz -C $(VENDOR)/html-manager --strip-components=2 package/dist
	tar -xzf $(VENDOR)/.npm/jupyter-widgets-html-manager-*.tgz -C $(VENDOR)/html-manager --strip-components=1 package/LICENSE
	rm -f $(VENDOR)/html-manager/*.map
	tar -xzf $(VENDOR)/.npm/requirejs-*.tgz -C $(VENDOR)/requirejs --strip-components=1 package/require.js
	rm -rf $(VENDOR)/.npm
	touch $@

# Headless Chromium for the rendered-book tests: installed when missing if we are root with apt-get;
# never fails the build (tests/test_book_render.py then skips and says why).
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian chromium for the rendered-book tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "make: could not install chromium; the rendered-book tests will be skipped"; \
	else echo "make: chromium is missing and cannot be installed here (needs root and apt-get); the rendered-book tests will be skipped"; fi

# Every test: the type check (mypy over cogpe/, pyproject.toml [tool.mypy]), the book build (warnings are
# errors), then unit, property and parity tests, docstring examples, nbval over every notebook (strict)
# and the headless-Chromium checks of the built pages.
test: install
	$(BIN)/python -m mypy
	$(MAKE) book
	$(MAKE) chromium
	$(BIN)/python -m pytest
	$(MAKE) test-floor

# The adapters' tests at the oldest diffusers they support (cogpe.adapters.families.DIFFUSERS_RANGE; the
# main environment pins the newest), in a second virtual environment. transformers < 5: that diffusers'
# pipelines import names transformers 5 removed.
FLOOR_VENV ?= .venv-floor
FLOOR_DIFFUSERS ?= diffusers==0.35.0
FLOOR_STAMP := $(FLOOR_VENV)/.installed-$(subst =,,$(FLOOR_DIFFUSERS))

test-floor: $(FLOOR_STAMP)
	$(FLOOR_VENV)/bin/python -m pytest tests/test_adapters*.py -q

$(FLOOR_STAMP): pyproject.toml Makefile
	test -x $(FLOOR_VENV)/bin/python || $(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -c "import torch" 2>/dev/null || $(FLOOR_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	$(FLOOR_VENV)/bin/python -m pip install --quiet "$(FLOOR_DIFFUSERS)" "transformers>=4.41.2,<5" \
		"numpy>=1.24" "hypothesis>=6.100" "pytest>=8.0" "nbval>=0.11" "opencv-python-headless>=4.8"
	$(FLOOR_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

unit: install
	$(BIN)/python -m pytest tests cogpe -x -q

# mypy over cogpe/, configured in pyproject.toml ([tool.mypy]).
typecheck: install
	$(BIN)/python -m mypy

book: install vendor
	$(BIN)/jupyter-book build . -W -n --keep-going

# Speed as ratios measured side by side: apply_rope vs diffusers vs clone, table construction, the tiny
# model's training step vs a matmul and diffusers, and the wall time of the notebooks and the book;
# results JSON in cogpe/results/benchmarks/ (chapter 8 reads it). `make bench BENCH_ARGS=--quick` for a smoke run.
# The lab's GPU comparison (chapter 7): results, samples and provenance into cogpe/results/.
LAB_PRESET ?= gpu
lab-gpu: install
	$(BIN)/python -m cogpe.lab --preset $(LAB_PRESET) --device cuda --results cogpe/results/lab-$(LAB_PRESET).json --no-progress

bench: install vendor
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf _build
