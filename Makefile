# One command for each routine task. Each installs what it needs in .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

# The main job installs only what parcours runs on; the tests add their peers and tools.
$(RUNTIME): pyproject.toml
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(RUNTIME)  ## build the demo world, import it, say what was found
	$(BIN)/parcours demo

test: $(STAMP)  ## run the whole test suite (installs Chromium and the browser SDK for its e2e test)
	bash tests/e2e/browser/setup.sh
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src

bench: $(STAMP)  ## side-by-side benchmarks (not tests): make bench ROWS=1000000
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/import.py --rows $(or $(ROWS),1000000)
	$(BIN)/python bench/journeys.py --sizes $(or $(ROWS),1000000)
	$(BIN)/python bench/startup.py --store bench/out/startup/store.duckdb
	$(BIN)/python bench/scores.py --events $(or $(ROWS),1000000)

clean:
	rm -rf $(VENV) parcours-demo .pytest_cache .mypy_cache .ruff_cache
