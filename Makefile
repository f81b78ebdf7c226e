# The two commands a new user needs: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The browser the model view's test drives (Playwright, from the lock, on Debian's Chromium): installed by
# apt-get when missing (as root, or through sudo). Elsewhere: `make test BROWSER=/path/to/chromium`.
BROWSER ?= /usr/bin/chromium

# Test processes (pytest-xdist workers); each runs one OpenMP/BLAS thread (tests/conftest.py).
TEST_WORKERS ?= 2

.PHONY: demo test bench install lint audit clean

# The project's own modules compiled once (only the changed ones again): every DAG run, task and service process
# imports them, and with PYTHONDONTWRITEBYTECODE set nothing would keep the compiled form between processes.
COMPILE_PROJECT = $(BIN)/python -m compileall -q plugins replay dags tests benchmarks >/dev/null

demo: $(STAMP)  ## install (if needed), initialise local state in .flywheel/, run every model's loop (MODEL=name: one)
	$(COMPILE_PROJECT)
	$(BIN)/flywheel-replay demo $(if $(MODEL),--model $(MODEL))

test: $(STAMP) $(BROWSER)  ## lint, type-check and `flywheel check`, then the whole suite: unit, config, DAG integrity, dag.test() runs, dbt on DuckDB and PostgreSQL
	$(COMPILE_PROJECT)
	$(BIN)/ruff check plugins replay dags tests benchmarks
	$(BIN)/mypy  # the library and the replay ([tool.mypy] in pyproject.toml)
	$(BIN)/flywheel check  # every spec, monitoring file and suite against the dbt project (docs/adding-a-model.md)
	FLYWHEEL_BROWSER=$(BROWSER) $(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# What needs more than a test run: the whole two-model replay (does the looped model beat a never-retrained
# one?) and the kill loops at their full size. Prints the figures docs/measurements.md quotes.
bench: $(STAMP)  ## the full replay and its retrain ceiling, full against warm-start retraining, the kill loops at 20 kills / 5 per step, a 5-minute soak
	home=$$(mktemp -d) && $(BIN)/python benchmarks/full_loop.py --keep $$home/replay && \
	  $(BIN)/python benchmarks/retrain_ceiling.py $$home/replay
	$(BIN)/python benchmarks/retrain_strategies.py  # hotel and bike replayed again, full and warm-start retraining at once
	FLYWHEEL_RELIABILITY_KILLS=20 FLYWHEEL_RELIABILITY_KILLS_PER_STEP=5 FLYWHEEL_RELIABILITY_REGISTRY_RUNS=6 \
	  $(BIN)/pytest -q -s -p no:cacheprovider tests/reliability/test_kill_training.py \
	  tests/reliability/test_kill_ingest_and_dbt.py tests/reliability/test_concurrent_registry.py
	FLYWHEEL_SOAK_SECONDS=300 $(BIN)/pytest -q -s -p no:cacheprovider \
	  tests/reliability/test_durable_log.py -k soak  # the service at 32 connections for 5 minutes

install: $(STAMP)

$(BROWSER):
	@if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo=sudo; else \
	  echo "$(BROWSER) is missing: install Chromium (Debian: apt-get install chromium) or pass BROWSER=<its path>"; \
	  exit 1; fi; \
	$$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends chromium

# uv installs the lock (the same pins, from PyPI) in about 25 s where pip takes 3 minutes: parallel downloads and
# no per-package metadata builds. It is bootstrapped by pip at a pinned version; the image (Dockerfile) keeps pip.
UV_VERSION := 0.13.9

# The lock pins every package; the project itself is installed editable without resolving anything else, and so
# is the demo's simulator (replay/: the demo, the tests and the benchmarks use it; the production image does not).
$(STAMP): requirements/lock.txt pyproject.toml replay/pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	# Compiled at install (as pip does; uv does not unless told): where PYTHONDONTWRITEBYTECODE is set, as on the
	# machines this project is built on, every new process would otherwise compile each module it imports again
	# (10 s of CPU instead of 3 for a process that imports the registry; the suite starts hundreds).
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -r requirements/lock.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . -e replay
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check plugins replay dags tests benchmarks
	$(BIN)/mypy
	$(BIN)/ruff format --check plugins replay dags tests benchmarks

# Known vulnerabilities of every pinned package. Needs pypi.org's per-version JSON API or api.osv.dev, which CI's
# network does not reach (docs/reliability.md); bandit and the secret scan run in `make test`.
audit: $(STAMP)
	$(BIN)/pip-audit -r requirements/lock.txt --no-deps --disable-pip --progress-spinner off

clean:  ## forget all local state (the virtual environment stays)
	rm -rf .flywheel dbt_project/target dbt_project/logs
