# The two set-up commands: `make run` serves the service, `make test` runs every check that
# needs no system package. Both need only Python 3.11 and the package registries, and no
# root: pipenv is installed into .tools/, the project's dependencies into .venv/ from
# Pipfile.lock, whether or not a virtualenv is active.
# The checks that need Debian's packages have targets of their own; .ci/run runs them all.

PYTHON ?= python3.11
# pip's own default index unless the environment names another (the Pipfile reads it).
PIP_INDEX_URL ?= $(shell $(PYTHON) -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
export PIP_INDEX_URL
export PIPENV_VENV_IN_PROJECT := 1
# Inside an active virtualenv (Travis's, a developer's) pipenv would install into that one.
export PIPENV_IGNORE_VIRTUALENVS := 1
unexport VIRTUAL_ENV
export PIPENV_VERBOSITY := -1
# The Dockerfile installs the same version (tests/test_deploy_files.py checks).
PIPENV_VERSION := 2026.10.3

TOOLS := .tools
PIPENV := $(TOOLS)/bin/pipenv
VENV := .venv
PY := $(VENV)/bin/python
# The benchmark's load generators, from Debian's packages (root here; sudo elsewhere): wrk for
# HTTP/1.1, h2load (nghttp2-client) for HTTP/2.
WRK := /usr/bin/wrk
H2LOAD := /usr/bin/h2load
PROMETHEUS := /usr/bin/prometheus
CHROMIUM := /usr/bin/chromium
HAPROXY := /usr/sbin/haproxy
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help run backend test lint typecheck pytest reliability-test cluster-test prometheus-check browser-test contract-test bench soak bench-smoke fuzz mutation container-test compose-test setup-check audit clean

help: ## this list: each target and what it needs beyond Python 3.11
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "%-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: $(VENV)/.synced ## serve the service on 127.0.0.1:5000
	$(PY) -m app

# The reference numbers backend on 127.0.0.1:5001; in another shell:
# NUMBERS_API_URL=http://127.0.0.1:5001/numbers make run
backend: $(VENV)/.synced ## the reference numbers backend on 127.0.0.1:5001
	$(PY) -m app.reference_backend --port 5001

test: lint typecheck pytest ## lint, mypy --strict and pytest: what Travis runs

lint: $(VENV)/.synced ## ruff, bandit, and the deployment files' linters and schemas
	$(PY) -m ruff check app tests bench deploy/grafana
	$(PY) -m ruff format --check app tests bench deploy/grafana
	$(VENV)/bin/bandit --quiet --recursive app
	$(PY) -m check_jsonschema --builtin-schema vendor.travis .travis.yml
	$(PY) -m check_jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/yamllint --strict .
	$(VENV)/bin/kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml

typecheck: $(VENV)/.synced ## mypy --strict over app, tests, bench and deploy/grafana
	$(PY) -m mypy

pytest: $(VENV)/.synced ## the tests that need no system package
	$(PY) -m pytest

# A real Prometheus scrapes the service; promtool checks the exposition and the alert rules.
prometheus-check: $(VENV)/.synced $(PROMETHEUS) ## a real Prometheus scrapes the service; promtool (Debian: prometheus)
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts.test.yml
	$(PY) -m pytest -m prometheus tests/prometheus

# schemathesis, every check, against a real python -m app and its /openapi.json.
contract-test: $(VENV)/.synced ## schemathesis against a live service
	$(PY) -m pytest -m contract tests/contract

# /docs in Debian's headless Chromium, driven by Playwright (no browser download).
browser-test: $(VENV)/.synced $(CHROMIUM) ## /docs in headless Chromium (Debian: chromium)
	$(PY) -m pytest -m browser tests/browser

# Three instances behind Debian's HAProxy (deploy/haproxy/haproxy.cfg), under load: a
# rolling restart and a killed instance (a minute and a half).
cluster-test: $(VENV)/.synced $(HAPROXY) ## three instances behind HAProxy under load (Debian: haproxy)
	$(PY) -m pytest -m cluster tests/cluster -rP

# Load, faults and hostile clients against real processes (a minute; thousands of connections).
reliability-test: $(VENV)/.synced ## load, faults and hostile clients against real processes
	$(PY) -m pytest -m reliability tests/reliability

# The benchmark, and a few seconds of it on small lists with every total checked (CI).
bench: $(VENV)/.synced $(WRK) $(H2LOAD) ## the benchmark, into docs/benchmark.md (Debian: wrk, nghttp2-client; ~20 min)
	$(PY) -m bench --record docs/benchmark.md --charts docs/charts

soak: $(VENV)/.synced $(WRK) ## 100,000 requests on each backend (Debian: wrk)
	$(PY) -m bench --part soak

bench-smoke: $(VENV)/.synced $(WRK) $(H2LOAD) ## a few seconds of the benchmark, every total checked (Debian: wrk, nghttp2-client)
	rm -rf build/smoke-charts
	$(PY) -m bench --smoke --charts build/smoke-charts
	@for chart in simulated-latency simulated-throughput fetch-floor; do \
	  test -s build/smoke-charts/$$chart.png || { echo "bench-smoke: no $$chart.png" >&2; exit 1; }; \
	done

# The parser and exact sum under atheris, coverage-guided, for FUZZ_SECONDS, from the seeds
# in tests/fuzz/corpus; what it learns stays in .fuzz/corpus, a finding in .fuzz/. Sessions
# of a minute: atheris's own memory grows by some KB a run (the same inputs in a plain loop
# keep the process at 37 MB) and would reach libFuzzer's 2 GB limit within minutes.
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -max_total_time=60 -max_len=16384 -timeout=10 -dict=tests/fuzz/numbers.dict -artifact_prefix=.fuzz/
fuzz: $(VENV)/.synced ## the parser under atheris for FUZZ_SECONDS
	@mkdir -p .fuzz/corpus
	@for session in $$(seq $$(( ($(FUZZ_SECONDS) + 59) / 60 ))); do \
	  $(PY) -m tests.fuzz.parser $(FUZZ_FLAGS) .fuzz/corpus tests/fuzz/corpus > .fuzz/session.log 2>&1 \
	    || { tail -n 40 .fuzz/session.log; exit 1; }; \
	  echo "fuzz session $$session: $$(grep -E '^Done' .fuzz/session.log), $$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9/a-zA-Z]+' .fuzz/session.log | tail -n 1)"; \
	done

# Mutation testing of the core modules (minutes; not part of `make test`).
mutation: $(VENV)/.synced ## mutation testing of the core modules (~20 min)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 || true
	$(VENV)/bin/mutmut results

# The locked runtime packages (Pipfile.lock's default section, hashes included) against
# pip-audit's vulnerability database: a known vulnerability fails it, and so does a package it
# could not look up. The database cannot be reached from .ci/run's machines; Travis runs it.
audit: $(VENV)/.synced ## pip-audit: known vulnerabilities in the locked runtime packages (network)
	@mkdir -p build
	$(PIPENV) requirements --hash --exclude-index > build/requirements.txt
	$(VENV)/bin/pip-audit --strict --disable-pip --progress-spinner off --requirement build/requirements.txt

container-test: ## build and check the image with podman (Debian: podman; root)
	bash .ci/container-check

# compose.yaml up with podman-compose: the exact total through HAProxy, Prometheus sees every
# instance (installs podman and its dnsname plugin; needs root, as container-test does).
compose-test: $(VENV)/.synced ## compose.yaml up with podman-compose (Debian: podman; root)
	bash .ci/compose-check

# The two set-up commands from a fresh clone, with a virtualenv active (as on Travis).
setup-check: ## make test and make run from a fresh clone in a virtualenv
	bash .ci/setup-check

$(PIPENV):
	@echo "First run: installing pipenv into $(TOOLS)/, then the locked dependencies into $(VENV)/ (most of a minute)"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet pipenv==$(PIPENV_VERSION)

$(WRK):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk

$(H2LOAD):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nghttp2-client

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

$(HAPROXY):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends haproxy

$(PROMETHEUS):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus

$(VENV)/.synced: Pipfile.lock | $(PIPENV)
	$(PIPENV) sync --dev
	touch $@

clean: ## remove .tools, .venv and the fuzzer's and mutmut's files
	rm -rf $(TOOLS) $(VENV) mutants .fuzz
