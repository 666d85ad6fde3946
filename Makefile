# gracekit: two commands do all set-up.
#   make lab    install into .venv and open JupyterLab on notebooks/
#   make test   install the test extras into .venv and run the whole suite
# Other targets: notebooks (regenerate .ipynb and student copies), warm (train every notebook's
# models into the cache), offline-kit (a folder for a room with no network), bench, doctor, clean.
#   make lab OFFLINE=offline-kit   install from a kit's wheels (no network) and use its model cache

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is installed first and on its own. The default is the CPU build this kit is tested with;
# elsewhere pick yours, e.g. make lab TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
# OFFLINE=<kit folder>: pip takes every package from <kit>/wheels and never looks at an index
OFFLINE ?=
PIP_FROM := $(if $(OFFLINE),--no-index --find-links $(abspath $(OFFLINE))/wheels)
# the tests run two workers; torch threads must not spin-wait against each other
export OMP_WAIT_POLICY := PASSIVE

.PHONY: lab test notebooks warm offline-kit bench doctor clean install-lab install-test browser

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade $(PIP_FROM) pip

$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install $(PIP_FROM) $(TORCH)
	touch $@

$(VENV)/.lab: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet $(PIP_FROM) -e ".[lab]"
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet $(PIP_FROM) -e ".[lab,test]"
	touch $@ $(VENV)/.lab

install-lab: $(VENV)/.lab
	$(if $(OFFLINE),$(PY) tools/offline_kit.py use $(OFFLINE))
install-test: $(VENV)/.test

# JupyterLab opens a working copy (workspace/, ignored by git): a learner's saves never touch the
# tracked notebooks; files already there are kept (delete one to get a fresh copy)
lab: install-lab
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

# jupytext comes with the lab install: regenerating needs no test extras and no network
notebooks: $(VENV)/.lab
	$(PY) tools/sync_notebooks.py

# run every notebook at full size so its models are trained once, into this user's cache
warm: $(VENV)/.lab
	$(PY) tools/offline_kit.py warm

# offline-kit/: wheels, the warm model cache, the project files and a README (tools/offline_kit.py)
offline-kit: $(VENV)/.lab
	$(PY) tools/offline_kit.py build --out offline-kit --torch "$(TORCH)" $(KIT_ARGS)

# timings from empty temporary caches: this does not warm your cache (make warm does)
bench: $(VENV)/.test
	$(PY) tools/bench.py

doctor: $(VENV)/.lab
	$(PY) -m gracekit doctor

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
