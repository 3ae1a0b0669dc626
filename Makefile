# Developer entry points.  `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KAFKA := deploy/kafka/kafka.sh
KAFKA_PORT ?= 9092
export KAFKA_PORT

# Reinstalled only when pyproject.toml changes.
INSTALLED := $(VENV)/.installed

.PHONY: help install kafka-start kafka-stop kafka-status test-prereqs test test-unit test-integration lint demo bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'
	@echo "  variables: KAFKA_PORT=$(KAFKA_PORT) PYTHON=$(PYTHON) PYTEST_ARGS=... DEMO_SECONDS=N BENCH_ARGS=..."

install: $(INSTALLED) ## create .venv (Python >= 3.11) and install cxpulse with its dev tools

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "error: $(PYTHON) is older than 3.11; run make PYTHON=python3.11 ..." >&2; exit 1; }
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

kafka-start: ## start the local Kafka broker on 127.0.0.1:$KAFKA_PORT (fetches it on first run)
	@$(KAFKA) start

kafka-stop: ## stop the local Kafka broker
	@$(KAFKA) stop

kafka-status: ## tell whether the local Kafka broker is running
	@$(KAFKA) status

test-prereqs: ## install Prometheus and Alertmanager if missing (apt-get, as root), or say what to install
	@deploy/test-prereqs.sh

test: test-prereqs install ## unit tests, then integration tests on a real broker (started and stopped if needed)
	$(BIN)/pytest -m "not integration" tests/unit $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-integration

test-unit: install ## unit tests only, no broker
	$(BIN)/pytest -m "not integration" tests/unit $(PYTEST_ARGS)

test-integration: test-prereqs install ## integration tests; uses the broker on $KAFKA_PORT or starts one for the run
	$(KAFKA) run env CXPULSE_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) \
		$(BIN)/pytest tests/integration $(PYTEST_ARGS)

lint: install ## ruff check, ruff format --check, mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install ## benchmark on a real broker (BENCH_ARGS=...); writes var/bench/result.json
	$(KAFKA) run timeout -s KILL 3600 $(BIN)/python -m bench.run \
		--bootstrap 127.0.0.1:$(KAFKA_PORT) $(BENCH_ARGS)

demo: install ## run the pipeline on simulated events and print its alerts (Ctrl-C stops it)
	deploy/demo.sh
