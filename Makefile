# commune-monitor: `make demo` runs the suite on this machine, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PEERS  := $(VENV)/.peers

.PHONY: all venv peers test lint unit quick fuzz bench demo demo-incident clean

all: venv

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Debian packages of the real peers (prometheus, promtool, alertmanager, snmpd, sshd, sipp...)
# and shellcheck.
peers: $(PEERS)

$(PEERS): scripts/install-peers.sh | $(STAMP)
	scripts/install-peers.sh
	touch $@

SHELL_SCRIPTS := $(wildcard deploy/*.sh scripts/*.sh) .ci/run

lint: venv peers
	$(VENV)/bin/ruff check agent collector common tests scripts
	$(VENV)/bin/mypy
	shellcheck -x $(SHELL_SCRIPTS)

# Two workers: most tests wait on real peers (Prometheus rule waits, installs, namespaces)
# rather than compute; --dist loadscope keeps a module's shared peers in one worker.
unit: venv peers
	$(PY) -m pytest -q -n 2 --dist loadscope -m 'not bench' tests

test: lint unit

# Without the Debian peers: the tests that need none and build no venv, on every core.
quick: venv
	$(PY) -m pytest -q -n auto -m 'not peer and not slow and not bench' tests

# The fuzz targets of tests/fuzz with FUZZ_EXAMPLES cases each (make test runs a few hundred).
FUZZ_EXAMPLES ?= 10000
fuzz: venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -n auto tests/fuzz

bench: venv peers
	$(PY) -m pytest -q -s -m bench tests/bench

demo: venv peers
	scripts/demo.sh

# Against a running `make demo`: slow, then stop, then restore its stand-in TTHC portal.
demo-incident: venv
	scripts/demo-incident.sh

clean:
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .pytest_cache *.egg-info
