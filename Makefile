# The two commands: `make demo` (set up, then run the demo on SQLite) and `make test` (set up, run all tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# --no-compile: bytecode is written on first import instead of for every file of every package (torch,
# transformers, spaCy): the install takes far less time. torch is pinned in pyproject.toml (a CPU build of
# 2.13.0 for Python 3.11; anything else pulls a CUDA build).
PIP := $(BIN)/pip install --quiet --disable-pip-version-check --no-compile

.PHONY: setup demo test lint format bench-store bench-nlu clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# What the demo and the server need; done again only when pyproject.toml changes.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[onnx]'
	touch $@

# ...and the test and lint tools.
$(STAMP): $(RUN_STAMP)
	$(PIP) -e '.[dev,onnx]'
	touch $@

setup: $(STAMP)

demo: $(RUN_STAMP)
	$(BIN)/crm-assistant demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-store: $(STAMP)
	$(BIN)/python -m bench.store

bench-nlu: $(STAMP)
	$(BIN)/python -m bench.nlu

clean:
	rm -rf $(VENV) models crm.db crm.db-wal crm.db-shm demo-data
