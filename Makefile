# gracekit: two commands do all set-up.
#   make lab    install into .venv and open JupyterLab on notebooks/
#   make test   install the test extras into .venv and run the whole suite
# Other targets: notebooks (regenerate .ipynb and student copies), bench, doctor, clean.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is installed first and on its own. The default is the CPU build this kit is tested with;
# elsewhere pick yours, e.g. make lab TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
# the tests run two workers; torch threads must not spin-wait against each other
export OMP_WAIT_POLICY := PASSIVE

.PHONY: lab test notebooks bench doctor clean install-lab install-test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install $(TORCH)
	touch $@

$(VENV)/.lab: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet -e ".[lab]"
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet -e ".[lab,test]"
	touch $@

install-lab: $(VENV)/.lab
install-test: $(VENV)/.test

lab: $(VENV)/.lab
	$(PY) -m gracekit doctor || true
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

test: $(VENV)/.test
	$(PY) -m pytest -n 2 --dist loadgroup

notebooks: $(VENV)/.test
	$(PY) tools/sync_notebooks.py

bench: $(VENV)/.test
	$(PY) tools/bench.py

doctor: $(VENV)/.lab
	$(PY) -m gracekit doctor

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
