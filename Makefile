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

.PHONY: lab test notebooks bench doctor clean install-lab install-test browser

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

# JupyterLab opens a working copy (workspace/, ignored by git): a learner's saves never touch the
# tracked notebooks; files already there are kept (delete one to get a fresh copy)
lab: $(VENV)/.lab
	$(PY) -m gracekit doctor || true
	$(PY) tools/workspace.py
	$(VENV)/bin/jupyter lab workspace/ $(if $(filter 0,$(shell id -u)),--allow-root)

# the real-browser test drives a system Chromium (Playwright's own browser download is not used):
# installed with apt when run as root on Debian/Ubuntu, otherwise a note says how
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "$$GRACEKIT_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else echo "note: the browser test needs Chromium: 'sudo apt-get install chromium' (Debian/Ubuntu) or set GRACEKIT_CHROMIUM=/path/to/chromium; without it that test is skipped (and fails under CI=true)"; fi

test: $(VENV)/.test browser
	$(PY) -m pytest -n 2 --dist loadgroup

notebooks: $(VENV)/.test
	$(PY) tools/sync_notebooks.py

bench: $(VENV)/.test
	$(PY) tools/bench.py

doctor: $(VENV)/.lab
	$(PY) -m gracekit doctor

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
