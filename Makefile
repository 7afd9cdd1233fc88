# provguard: `make demo`, `make test`, `make bench`. Each bootstraps .venv from python3 alone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.provguard-installed

.PHONY: demo test bench venv clean

venv: $(STAMP)

# Reinstall only when the project metadata changes; an up-to-date .venv is reused.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/provguard demo

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

bench: $(STAMP)
	$(PY) -m bench.run --out BENCHMARKS.md

clean:
	rm -rf $(VENV) .pytest_cache
