# The two commands a newcomer types: `make demo` and `make test`.
# Each creates .venv if missing and installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test lint bench clean system-packages

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when the packaging metadata changed.
$(VENV)/.installed: $(PY) pyproject.toml setup.cfg setup.py
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: $(PY) pyproject.toml setup.cfg setup.py
	$(PIP) install -e '.[test]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m docflow.demo

# Debian packages a test needs, installed when missing (as root, with apt-get):
# poppler-utils renders a signed PDF's stamp (pdftoppm) and reads its text (pdftotext).
system-packages:
	@command -v pdftoppm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing poppler-utils (pdftoppm) for the PDF rendering tests"; \
	    apt-get install -y -q poppler-utils >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q poppler-utils >/dev/null; }; \
	  else echo "note: pdftoppm (poppler-utils) is missing and cannot be installed here"; fi; }

test: $(VENV)/.installed-test system-packages
	$(VENV)/bin/ruff check docflow tests examples benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n auto
	$(PY) -m benchmarks --quick

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check docflow tests examples benchmarks
	$(VENV)/bin/mypy

bench: $(VENV)/.installed-test
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
