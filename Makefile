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

.PHONY: demo test install lint bench chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## Import the shipped corpus, index it and serve it on http://127.0.0.1:8000
demo: $(VENV)/.installed
	$(VENV)/bin/kb demo

## Run the test suite (real model, real SQLite files, real FAISS, headless Chromium)
test: $(VENV)/.installed chromium
	$(VENV)/bin/python -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check kb indexer search web tests bench
	$(VENV)/bin/mypy kb indexer search web

## Retrieval benchmark on ../shared/eval (not part of the tests)
bench: $(VENV)/.installed
	$(VENV)/bin/python bench/semeval.py
	$(VENV)/bin/python bench/reindex_throughput.py
	$(VENV)/bin/python bench/embedding_paths.py

# The browser tests drive Debian's chromium through Playwright (`playwright install`
# downloads browsers, which these machines cannot). Installed once if it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
