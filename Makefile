# The two README commands: `make run` (install + launch the app) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install run test lint clean bench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch is pinned for this project's dev/CI machines (a CPU build that lies on local disk);
	# see README for GPU installs.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test,package]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/piggydesk-gui

lint: $(STAMP)
	$(VENV)/bin/ruff check piggydesk tests benchmarks
	$(VENV)/bin/lint-imports

test: $(STAMP)
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_classic.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
