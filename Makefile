# Two commands do all set-up on a fresh machine (see README): `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build is installed before anything else so that no dependency pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test unit book clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[viz,test,book]"
	touch $(STAMP)

# Every test: unit, property and parity tests, docstring examples, then the book build.
test: install
	$(BIN)/python -m pytest
	$(MAKE) book

unit: install
	$(BIN)/python -m pytest tests cogpe -x -q

book: install
	$(BIN)/jupyter-book build . -W -n --keep-going

clean:
	rm -rf _build
