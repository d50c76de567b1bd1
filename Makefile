# The one entry point. `make test` and `make demo` work on a fresh machine: they create .venv and install
# acecoder (building the Rust engine with maturin) before running anything.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-rust test-python lint bench ci clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml Cargo.toml rust/Cargo.toml $(wildcard rust/src/*.rs rust/src/*/*.rs rust/src/*/*.py)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/acecoder demo

test-rust:
	cargo test --quiet

test-python: install
	$(BIN)/python -m pytest -q

test: test-rust test-python

lint: install
	cargo clippy --all-targets --quiet -- -D warnings
	$(BIN)/python -m mypy.stubtest acecoder._engine

bench: install
	$(BIN)/python benches/bench_exec.py

ci: test

clean:
	rm -rf $(VENV) target
