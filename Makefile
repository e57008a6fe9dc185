# Two commands matter: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The report page test renders it in headless Chromium (Debian's package).
CHROMIUM := /usr/bin/chromium

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
export POWERTOOLS_TRACE_DISABLED := 1

.PHONY: venv demo local test lint synth bench clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m local_stack.demo

# The local stack as a service for `cers-groups --local`; Ctrl-C stops it.
local: $(STAMP)
	$(BIN)/python -m local_stack.serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint $(CHROMIUM)
	$(BIN)/python -m pytest

# Installed only when missing: CI runs `make test` as root on a fresh Debian machine.
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

synth: $(STAMP)
	npx --yes aws-cdk@2 synth --no-notices --quiet

# Validation speed and memory against csv.reader, frictionless and pandera (README, "Validation
# speed"). The general-purpose validators live in their own venv: they pin other versions.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	cd bench && ../$(BIN)/python run.py --other-python ../$(BENCH_VENV)/bin/python
	$(BIN)/python bench/end_to_end.py
	PYTHONPATH=. $(BIN)/python bench/load.py

clean:
	rm -rf cdk.out .pytest_cache
