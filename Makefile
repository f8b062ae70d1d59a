# Two commands matter: `make run` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test check lint format types layers bench clean

PROTOS := $(shell find src/tidings/api/grpc/protos -name '*.proto')

# Installs, then generates the gRPC modules from the .proto files (build output, never committed).
$(STAMP): pyproject.toml constraints.txt $(PROTOS)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Tidings needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(BIN)/python -m tidings.api.grpc.codegen
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/tidings serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

types: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

check: lint types layers test

# Benchmarks need wrk (Debian package) for HTTP load; installed here when missing and possible.
bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get install -y -q wrk >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null)) || { echo "wrk is required: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis src/tidings/api/grpc/generated
