# Vigil: `make run` starts the whole loop, `make test` checks everything.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= baseline_model/configs/monitor.yaml

.PHONY: run test lint typecheck pytest venv lock bench clean browser prometheus java

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.lock
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/vigil --config $(CONFIG) demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy core checks incidents profilers app baseline_model

test: lint browser prometheus java
	$(BIN)/python -m pytest -q

# The browser tests (tests/browser) drive Debian's headless chromium through chromedriver:
# installed with apt-get when missing (as .ci/run does), and said so.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "make test: installing Debian's chromium and chromium-driver for the browser tests (apt-get)"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	    || { echo "make test: could not install chromium (hint: apt-get install chromium chromium-driver)"; exit 1; }; \
	fi

# The end-to-end test of deploy/ (tests/e2e/test_prometheus_alertmanager.py) runs Debian's
# prometheus, promtool and prometheus-alertmanager on 127.0.0.1: installed when missing.
prometheus:
	@if [ ! -x /usr/bin/prometheus ] || [ ! -x /usr/bin/promtool ] || [ ! -x /usr/bin/prometheus-alertmanager ]; then \
	  echo "make test: installing Debian's prometheus and prometheus-alertmanager for the end-to-end tests (apt-get)"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager \
	    || { echo "make test: could not install prometheus (hint: apt-get install prometheus prometheus-alertmanager)"; exit 1; }; \
	fi

# profile.engine: spark (tests/spark) runs pyspark in local mode, which needs a Java runtime:
# Spark 4.1 runs on Java 17. Debian's openjdk-17-jre-headless, installed with apt-get when
# `java` is missing (as .ci/run does); never a JDK downloaded by a tool.
# An older Java on PATH (8, 11) counts as missing: Debian's alternatives then pick the 17.
java:
	@major=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	if [ -z "$$major" ] || [ "$$major" -lt 17 ]; then \
	  echo "make test: installing Debian's openjdk-17-jre-headless for the Spark engine tests (apt-get; found Java: $${major:-none})"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless \
	    || { echo "make test: could not install Java (hint: apt-get install openjdk-17-jre-headless)"; exit 1; }; \
	fi

# Regenerate the lock file (uv lives in the venv only for this).
lock: venv
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header --no-annotate -o requirements.lock

# The segment bench at a small size by default (200k rows, two daily batches, 0 / 10 / 100 / 1,000
# segments: a few minutes); `make bench SEGMENT_BENCH_ROWS=1000000` for the README's figure.
SEGMENT_BENCH_ROWS ?= 200000

bench: venv
	$(BIN)/python bench/profile_bench.py
	$(BIN)/python bench/segment_bench.py --rows $(SEGMENT_BENCH_ROWS)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
