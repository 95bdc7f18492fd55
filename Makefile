# Every target works from a fresh clone: the venv is created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-unit test-faults lint kafka-up kafka-down demo demo-down bench clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

# The README's test command. The session fixture starts Kafka itself when needed
# (KAFKA_BOOTSTRAP_SERVERS, else Docker/testcontainers, else scripts/kafka-local).
# scripts/ensure-prometheus puts prometheus/promtool on PATH (unpacking Debian's package into .cache/
# when they are missing; nothing is installed system-wide, no service starts).
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
test: $(STAMP)
	prom_bin=$$(scripts/ensure-prometheus) || exit 1; \
	PATH="$$prom_bin:$$PATH" $(BIN)/python -m pytest tests -m "not faults or ci" -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -p no:cacheprovider

test-faults: $(STAMP)
	PATH="$$(scripts/ensure-prometheus):$$PATH" $(BIN)/python -m pytest tests -m faults -rA -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas consumer producer

# The whole flow on this machine: Kafka, origin farm, topics, seed, two consumers, summary, audit.
demo: $(STAMP)
	$(BIN)/python scripts/demo run

demo-down:
	-$(BIN)/python scripts/demo down

# Benchmarks need Scrapy (the peer), pinned in requirements-bench.lock, installed on first use.
$(VENV)/.bench: $(STAMP) requirements-bench.lock
	$(BIN)/python -m pip install -q -r requirements-bench.lock
	touch $(VENV)/.bench

bench: $(VENV)/.bench
	$(BIN)/python bench/run_all.py

kafka-up:
	scripts/kafka-local start

kafka-down:
	scripts/kafka-local stop

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
