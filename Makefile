# The two set-up commands: `make run` serves the service, `make test` runs every check.
# Both need only Python 3.11 and the package registries: pipenv is installed into
# .tools/, the project's dependencies into .venv/ from Pipfile.lock.

PYTHON ?= python3.11
# pip's own default index unless the environment names another (the Pipfile reads it).
PIP_INDEX_URL ?= $(shell $(PYTHON) -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
export PIP_INDEX_URL
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1

TOOLS := .tools
PIPENV := $(TOOLS)/bin/pipenv
VENV := .venv
PY := $(VENV)/bin/python
# The benchmark's load generator, from Debian's packages (root here; sudo elsewhere).
WRK := /usr/bin/wrk
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run backend test lint typecheck pytest bench container-test clean

run: $(VENV)/.synced
	$(PY) -m app

# The reference numbers backend on 127.0.0.1:5001; in another shell:
# NUMBERS_API_URL=http://127.0.0.1:5001/numbers make run
backend: $(VENV)/.synced
	$(PY) -m app.reference_backend --port 5001

test: lint typecheck pytest

lint: $(VENV)/.synced
	$(PY) -m ruff check app tests bench
	$(PY) -m ruff format --check app tests bench

typecheck: $(VENV)/.synced
	$(PY) -m mypy

pytest: $(VENV)/.synced $(WRK)
	$(PY) -m pytest

bench: $(VENV)/.synced $(WRK)
	$(PY) -m bench

container-test:
	bash .ci/container-check

$(PIPENV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet pipenv

$(WRK):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk

$(VENV)/.synced: Pipfile.lock | $(PIPENV)
	$(PIPENV) sync --dev
	touch $@

clean:
	rm -rf $(TOOLS) $(VENV)
