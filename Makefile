# The two README commands: `make run` (install + launch the app) and `make test`.
#   make run [PHOTO=grandma.jpg]   install into .venv (once), check Qt's system libraries
#                                  (installing them when root/passwordless sudo), open the app
#   make test                      import rules + every test, the PyInstaller build included
#   make test-fast                 the same without the frozen build (everyday work)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint clean bench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch is pinned for this project's dev/CI machines (a CPU build that lies on local disk);
	# see README for GPU installs.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test,package]"
	touch $(STAMP)

install: $(STAMP)

QT_LIBS := installer/linux/qt-system-libs.sh
PHOTO ?=

run: $(STAMP)
	@bash $(QT_LIBS) ensure $(PY)
	$(VENV)/bin/piggydesk-gui $(if $(PHOTO),"$(PHOTO)")

lint: $(STAMP)
	$(VENV)/bin/ruff check piggydesk tests benchmarks
	$(VENV)/bin/lint-imports

test: $(STAMP)
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

test-fast: $(STAMP)
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not frozen"

bench: $(STAMP)
	$(PY) benchmarks/bench_classic.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
