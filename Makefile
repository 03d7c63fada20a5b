# The two commands a new user needs: `make dev` and `make test`. Both build the
# virtualenv from nothing, from the locked dependency set.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 3000
FIRST_MONTH_START := 2013-01-01
FIRST_MONTH_END := 2013-01-31

export DAGSTER_HOME := $(CURDIR)/.dagster_home
# The embedded default lake, as an absolute path so every process agrees on it.
export PLATFORM_LAKE_URL ?= $(CURDIR)/.lake

.PHONY: dev replay test soak lint bench lock clean test-system-packages stack

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## dev: set up from nothing, land January 2013 if nothing has landed, start the UI
dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/platform land --if-empty --start $(FIRST_MONTH_START) --end $(FIRST_MONTH_END)
	@# Started from DAGSTER_HOME so Dagster does not mistake the repo's dagster.yaml for the instance's.
	cd $(DAGSTER_HOME) && $(CURDIR)/$(BIN)/dagster dev --host $(HOST) --port $(PORT) \
		--workspace $(CURDIR)/workspace.yaml

## replay: beside a running `make dev`, land one day of February every 10s (a live feed)
REPLAY_START ?= 2013-02-01
REPLAY_DAYS ?= 7
REPLAY_EVERY ?= 10s
replay: $(STAMP)
	$(BIN)/platform replay --start $(REPLAY_START) --days $(REPLAY_DAYS) --every $(REPLAY_EVERY)

## stack: the staging topology as local processes (PostgreSQL, moto S3 over TLS, gRPC code
## server, webserver, daemon; PLATFORM_ENV=staging); Ctrl-C stops it. State in .stack/
STACK_SENSOR_INTERVAL ?= 5
stack: $(STAMP) test-system-packages
	$(BIN)/python -m platform_assets.deploy_stack --state $(CURDIR)/.stack --sensor-interval $(STACK_SENSOR_INTERVAL)

## test: set up from nothing and run lint plus the whole suite
test: $(STAMP) test-system-packages
	$(BIN)/ruff check .
	@# Two workers, one test file each: the slow tests mostly wait on servers and sensors.
	$(BIN)/python -m pytest -n 2 --dist loadfile

# Tests start real servers and a real browser from Debian's packages: PostgreSQL for the
# production instance config, Chromium for the UI, docker-compose to resolve deploy/'s
# compose file (no Docker daemon is needed or started), Prometheus (with promtool) for the
# metrics exporter, alert rules and dashboard.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages for the tests:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

## soak: long fault-injection loops against the S3 endpoint (left out of `make test`)
soak: $(STAMP)
	$(BIN)/python -m pytest -m soak -s

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## bench: every figure of issue 17 (floors, peer, platform, incremental day, scale, catalog
## requests), printed and appended to benchmarks/RESULTS.md (slow: ~1 h for everything).
## Knobs: BENCH_PARTS=floor,dagster,postgres,peer,platform,incremental,catalog,scale
## BENCH_QUICK=1 BENCH_START= BENCH_END= BENCH_CHUNK_DAYS= BENCH_WORKERS= BENCH_REPEAT= BENCH_SCALE_YEARS=
## BENCH_SPEEDUP_DAYS= BENCH_RESULTS= (empty: print only). PostgreSQL comes from Debian.
bench: $(STAMP) test-system-packages
	@start=$$(date +%s); PYTHONPATH=$(CURDIR) $(BIN)/python -m benchmarks.run_all; \
		echo "make bench: $$(( $$(date +%s) - start )) s in all"

## lock: re-resolve dependencies from pyproject.toml into requirements.lock (runtime + dev)
## and requirements-runtime.lock (what the image installs: the same pins, runtime only)
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# Locked dependency set for platform_assets (runtime + dev), installed by the Makefile."; \
	  echo "# Regenerate with 'make lock' after changing pyproject.toml."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -c requirements.lock .
	{ echo "# Runtime dependencies only (what the image installs), pinned to the same versions as"; \
	  echo "# requirements.lock. Regenerate both with 'make lock' after changing pyproject.toml."; \
	  .lock-venv/bin/python -m pip freeze | grep -v -i '^platform.assets'; } > requirements-runtime.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
