# The two commands of the README: `make demo` and `make test`.
# Each installs what it needs into .venv first (once; again when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
# CPU build of PyTorch, installed before anything that depends on it; otherwise pip
# resolves a multi-GB CUDA build. Elsewhere, point TORCH_PIP_ARGS at PyTorch's CPU index.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export HF_HUB_DISABLE_TELEMETRY = 1

.PHONY: demo test install lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## Import the shipped corpus, index it and serve it on http://127.0.0.1:8000
demo: $(VENV)/.installed
	$(VENV)/bin/kb demo

## Run the test suite (real model, real SQLite files, real FAISS)
test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check kb indexer search web tests bench
	$(VENV)/bin/mypy kb indexer search web

## Retrieval benchmark on ../shared/eval (not part of the tests)
bench: $(VENV)/.installed
	$(VENV)/bin/python bench/semeval.py
	$(VENV)/bin/python bench/reindex_throughput.py
