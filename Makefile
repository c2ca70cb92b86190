# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The service runs without torch (`make run`). The tests compare against torch: `make test`
# installs the [torch] extra, torch first, pinned exactly and from PyTorch's CPU index (from
# PyPI, Linux gets a multi-GB CUDA build). With a GPU: make test TORCH_INDEX=https://pypi.org/simple
TORCH := torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: run bench test test-reliability lint typecheck install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet --retries 1 --index-url $(TORCH_INDEX) $(TORCH)
	$(BIN)/pip install --quiet -e '.[test,torch]'
# The browser tests drive Debian's Chromium: Playwright cannot download its own here.
	command -v chromium || (apt-get update && apt-get install -y chromium)
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/moderation dev --port 8000

# The whole stack on loopback (real Redis at 127.0.0.1:6379, a throw-away key prefix): model
# ceiling, pipeline, ingest, latency, memory; a few minutes. JSON + PNG under reports/.
bench: install
	$(BIN)/moderation bench --out reports

lint: install-test
	$(BIN)/ruff check moderation workers tests
	$(BIN)/ruff format --check moderation workers tests

typecheck: install-test
	$(BIN)/mypy

test: install-test lint typecheck
	$(BIN)/python -m pytest

# The fault tests of tests/reliability (real processes killed under load, a few minutes on
# 2 cores) and everything else. RELIABILITY_COMMENTS (1500) scales the worker-kill run,
# RELIABILITY_SOAK_S (60) the soak; RELIABILITY_SOAK_S=3600 is the hour-long option.
test-reliability: install-test
	$(BIN)/python -m pytest -m 'reliability or not reliability'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
