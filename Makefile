# The two set-up commands: `make run` serves the service, `make test` runs every check that
# needs no system package. Both need only Python 3.11, 3.12 or 3.13 with its pip and venv, and
# the package registries, and no root: pipenv is installed into .tools/, the project's
# dependencies into .venv/ from Pipfile.lock, whether or not a virtualenv is active. `make run`
# and `make backend` install only the runtime packages; `make test` and every check add the
# development ones. The checks that need Debian's packages have targets of their own; .ci/run
# runs them all.

# The Pythons it runs on, oldest first (.github/workflows/ci.yml tests each). 3.14 is not one
# of them until a released Hypercorn starts there (pgjones/hypercorn#351).
SUPPORTED_PYTHONS := 3.11 3.12 3.13
version_of = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
reverse = $(if $(1),$(call reverse,$(wordlist 2,$(words $(1)),$(1))) $(firstword $(1)))
# The newest python3.X of them that runs (a pyenv shim may be on the PATH and not run), unless
# PYTHON names one.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach version,$(call reverse,$(SUPPORTED_PYTHONS)),$(if $(filter $(version),$(call version_of,python$(version))),python$(version))))
endif
PYTHON_VERSION := $(if $(PYTHON),$(call version_of,$(PYTHON)))
# Every target but these needs one of them, and says so in one line if there is none.
NO_PYTHON_GOALS := help clean python-matrix
ifneq ($(filter-out $(NO_PYTHON_GOALS),$(or $(MAKECMDGOALS),help)),)
ifeq ($(filter $(SUPPORTED_PYTHONS),$(PYTHON_VERSION)),)
$(error total-service runs on Python $(firstword $(SUPPORTED_PYTHONS)) to $(lastword $(SUPPORTED_PYTHONS)): $(if $(PYTHON),$(if $(PYTHON_VERSION),$(PYTHON) is $(PYTHON_VERSION),PYTHON=$(PYTHON) does not run),no python$(firstword $(SUPPORTED_PYTHONS)) to python$(lastword $(SUPPORTED_PYTHONS)) runs from the PATH$(if $(call version_of,python3), (python3 is $(call version_of,python3)))); install one, or name one with PYTHON=)
endif
endif
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
# Stamps of the two syncs, each remade when Pipfile.lock changes. `pipenv sync` installs what
# is missing and removes nothing, so a runtime sync after a development one keeps the tools.
# (.ci/container-check and Travis build $(DEV) by its name.)
RUNTIME := $(VENV)/.synced-runtime
DEV := $(VENV)/.synced
# A long install says every 5 s that it is still at work, and how far: no silent wait (pip
# reads each package's index page before it installs anything, which takes half a minute).
with_progress = ( while sleep 5; do echo "  ... still installing: $$(ls -d $(VENV)/lib/python*/site-packages/*.dist-info 2>/dev/null | wc -l) packages in $(VENV)/ so far"; done ) & ticker=$$!; $(1); status=$$?; kill $$ticker; exit $$status
# How many packages a section of Pipfile.lock lists ("default" or "develop"), for the messages.
locked = $(shell $(PYTHON) -c 'import json; print(len(json.load(open("Pipfile.lock"))["$(1)"]))')
# The benchmark's load generators, from Debian's packages (root here; sudo elsewhere): wrk for
# HTTP/1.1, h2load (nghttp2-client) for HTTP/2.
WRK := /usr/bin/wrk
H2LOAD := /usr/bin/h2load
PROMETHEUS := /usr/bin/prometheus
CHROMIUM := /usr/bin/chromium
HAPROXY := /usr/sbin/haproxy
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help run backend test lint typecheck pytest reliability-test cluster-test prometheus-check browser-test contract-test bench soak bench-smoke fuzz mutation container-test compose-test python-matrix setup-check audit clean

help: ## this list: each target and what it needs beyond Python 3.11 to 3.13
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "%-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: $(RUNTIME) ## serve the service on 127.0.0.1:5000
	$(PY) -m app

# The reference numbers backend on 127.0.0.1:5001; in another shell:
# NUMBERS_API_URL=http://127.0.0.1:5001/numbers make run
backend: $(RUNTIME) ## the reference numbers backend on 127.0.0.1:5001
	$(PY) -m tools.reference_backend --port 5001

test: lint typecheck pytest ## lint, mypy --strict and pytest: what Travis runs

lint: $(DEV) ## ruff, bandit, and the linters and schemas of the deployment files and the workflow
	$(PY) -m ruff check app tests bench tools deploy/grafana
	$(PY) -m ruff format --check app tests bench tools deploy/grafana
	$(VENV)/bin/bandit --quiet --recursive app
	$(PY) -m check_jsonschema --builtin-schema vendor.travis .travis.yml
	$(PY) -m check_jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(PY) -m check_jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
	$(VENV)/bin/actionlint .github/workflows/ci.yml
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/yamllint --strict .
	$(VENV)/bin/kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml

typecheck: $(DEV) ## mypy --strict over app, tests, bench, tools and deploy/grafana
	$(PY) -m mypy

pytest: $(DEV) ## the tests that need no system package
	$(PY) -m pytest

# A real Prometheus scrapes the service; promtool checks the exposition and the alert rules.
prometheus-check: $(DEV) $(PROMETHEUS) ## a real Prometheus scrapes the service; promtool (Debian: prometheus)
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts.test.yml
	$(PY) -m pytest -m prometheus tests/prometheus

# schemathesis, every check, against a real python -m app and its /openapi.json.
contract-test: $(DEV) ## schemathesis against a live service
	$(PY) -m pytest -m contract tests/contract

# /docs in Debian's headless Chromium, driven by Playwright (no browser download).
browser-test: $(DEV) $(CHROMIUM) ## /docs in headless Chromium (Debian: chromium)
	$(PY) -m pytest -m browser tests/browser

# Three instances behind Debian's HAProxy (deploy/haproxy/haproxy.cfg), under load: a
# rolling restart and a killed instance (a minute and a half).
cluster-test: $(DEV) $(HAPROXY) ## three instances behind HAProxy under load (Debian: haproxy)
	$(PY) -m pytest -m cluster tests/cluster -rP

# Load, faults and hostile clients against real processes (a minute; thousands of connections).
reliability-test: $(DEV) ## load, faults and hostile clients against real processes
	$(PY) -m pytest -m reliability tests/reliability

# The benchmark, and a few seconds of it on small lists with every total checked (CI).
bench: $(DEV) $(WRK) $(H2LOAD) ## the benchmark, into docs/benchmark.md (Debian: wrk, nghttp2-client; ~20 min)
	$(PY) -m bench --record docs/benchmark.md --charts docs/charts

soak: $(DEV) $(WRK) ## 100,000 requests on each backend (Debian: wrk)
	$(PY) -m bench --part soak

bench-smoke: $(DEV) $(WRK) $(H2LOAD) ## a few seconds of the benchmark, every total checked (Debian: wrk, nghttp2-client)
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
fuzz: $(DEV) ## the parser under atheris for FUZZ_SECONDS
	@mkdir -p .fuzz/corpus
	@for session in $$(seq $$(( ($(FUZZ_SECONDS) + 59) / 60 ))); do \
	  $(PY) -m tests.fuzz.parser $(FUZZ_FLAGS) .fuzz/corpus tests/fuzz/corpus > .fuzz/session.log 2>&1 \
	    || { tail -n 40 .fuzz/session.log; exit 1; }; \
	  echo "fuzz session $$session: $$(grep -E '^Done' .fuzz/session.log), $$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9/a-zA-Z]+' .fuzz/session.log | tail -n 1)"; \
	done

# Mutation testing of the core modules (minutes; not part of `make test`).
mutation: $(DEV) ## mutation testing of the core modules (its time: docs/reliability.md)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 || true
	$(VENV)/bin/mutmut results

# The locked runtime packages (Pipfile.lock's default section, hashes included) against
# pip-audit's vulnerability database: a known vulnerability fails it, and so does a package it
# could not look up. The database cannot be reached from .ci/run's machines; Travis runs it.
audit: $(DEV) ## pip-audit: known vulnerabilities in the locked runtime packages (network)
	@mkdir -p build
	$(PIPENV) requirements --hash --exclude-index > build/requirements.txt
	$(VENV)/bin/pip-audit --strict --disable-pip --progress-spinner off --requirement build/requirements.txt

container-test: ## build and check the image with podman (Debian: podman; root)
	bash .ci/container-check

# compose.yaml up with podman-compose: the exact total through HAProxy, Prometheus sees every
# instance (installs podman and its dnsname plugin; needs root, as container-test does).
compose-test: $(DEV) ## compose.yaml up with podman-compose (Debian: podman; root)
	bash .ci/compose-check

# The two set-up commands on Debian 13's own Python 3.13, as a user without root, in a Debian
# root made with mmdebstrap (about 5 minutes; Python 3.12 is tested by GitHub Actions).
python-matrix: ## make test and make run on Debian 13's Python 3.13, in a root of its own (root)
	bash .ci/python-matrix

# The two set-up commands from a fresh clone, with a virtualenv active (as on Travis).
setup-check: ## make run, then make test, from a fresh clone in a virtualenv: what each installs
	bash .ci/setup-check

# The machine's pip installs pipenv, and pipenv installs with the pip it carries: neither
# virtualenv needs a pip of its own, which would cost seconds of the first run. pipenv's
# modules are compiled as it imports them, not all of them at install.
$(PIPENV):
	@echo "First run: installing pipenv $(PIPENV_VERSION) into $(TOOLS)/"
	$(PYTHON) -m venv --without-pip $(TOOLS)
	$(PYTHON) -m pip --python $(TOOLS)/bin/python install --quiet --no-compile pipenv==$(PIPENV_VERSION)

$(PY):
	$(PYTHON) -m venv --without-pip $(VENV)

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

$(RUNTIME): Pipfile.lock | $(PIPENV) $(PY)
	@echo "Installing the $(call locked,default) runtime packages of Pipfile.lock into $(VENV)/"
	@$(call with_progress,$(PIPENV) sync)
	touch $@

# The development sync installs the runtime packages too: both stamps are then current.
$(DEV): Pipfile.lock | $(PIPENV) $(PY)
	@echo "Installing the $(call locked,default) runtime and $(call locked,develop) development packages of Pipfile.lock (the checks' tools) into $(VENV)/"
	@$(call with_progress,$(PIPENV) sync --dev)
	@# Every package has what it requires on this Python: a lock made on another can miss some.
	$(PYTHON) -m pip --python $(PY) check
	touch $(RUNTIME) $@

clean: ## remove .tools, .venv and the fuzzer's and mutmut's files
	rm -rf $(TOOLS) $(VENV) mutants .fuzz

# The service exporting its traces to a real OTLP collector, rotel (a binary in its PyPI wheel,
# a dev dependency: installed by the sync, no root), with WORKERS=1 and 2, and to a collector
# that never answers (half a minute).
.PHONY: tracing-check
tracing-check: $(VENV)/.synced ## traces received by a real OTLP collector (rotel, from PyPI)
	$(PY) -m pytest -m tracing tests/tracing
