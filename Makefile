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

# The comparison baseline: invisible-watermark (dwtDctSvd) without its opencv-python/torch pins (headless OpenCV).
BENCH_STAMP := $(VENV)/.provguard-bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet opencv-python-headless PyWavelets threadpoolctl
	$(PY) -m pip install --quiet --no-deps invisible-watermark==0.2.0
	@touch $(BENCH_STAMP)

# The watermark and generator benchmarks read the real-media corpus: `provguard corpus build` makes it (downloads).
bench: $(BENCH_STAMP)
	-$(VENV)/bin/provguard corpus build
	$(PY) -m bench.run --out BENCHMARKS.md

clean:
	rm -rf $(VENV) .pytest_cache
