# The README's quick start: `make demo` and `make test`, on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# PyTorch for the learned localizers. The pinned CPU build installs from the local
# wheel here; elsewhere set TORCH_SPEC (e.g. TORCH_SPEC=torch for a CUDA build).
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test bench clean

$(VENV)/.core: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[all]"
	touch $@

$(VENV)/.nn: $(VENV)/.core
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test,nn,pymust]"
	touch $@

demo: $(VENV)/.core
	$(VENV)/bin/pyulm demo --out demo_output

test: $(VENV)/.nn
	$(PY) -m pytest -q

bench: $(VENV)/.nn
	$(PY) benchmarks/bench_pipeline.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache
