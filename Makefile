# The two commands: `make demo` (set up, then run the demo on SQLite) and `make test` (set up, run all tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format bench-store bench-nlu clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: a CPU build of 2.13.0 for Python 3.11; anything else pulls a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,onnx]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
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
