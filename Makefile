# GLM-TTS on Kubernetes: one entry point for newcomers and CI.
#   make demo   synthesise a mixed Chinese/English sentence with the CPU backend into demo-out/
#   make test   lint + every test suite (what .ci/run calls)
#   make bench  benchmarks, printed as ratios measured in one run (BENCH=bench_x to pick one)
#   make docs   regenerate the charts' README parameter tables
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
NODE_TOOLS := $(TOOLS)/node
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := $(NODE_TOOLS)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(TOOLS)/bin:$(CURDIR)/$(NODE_TOOLS)/node_modules/.bin:$(PATH)
PYTEST_WORKERS ?= 2

.PHONY: help venv tools sysdeps demo test lint pytest bench docs clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

$(VENV_STAMP): requirements-test.txt inference/pyproject.toml hooks/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt -e inference -e hooks
	touch $@

venv: $(VENV_STAMP)

$(NODE_STAMP): tools/package.json tools/package-lock.json
	mkdir -p $(NODE_TOOLS)
	cp tools/package.json tools/package-lock.json $(NODE_TOOLS)/
	npm ci --prefix $(NODE_TOOLS) --no-audit --no-fund --loglevel=error
	touch $@

# checkov pins many of its dependencies, so it lives in its own virtualenv.
CHECKOV_STAMP := $(TOOLS)/checkov-venv/.installed
$(CHECKOV_STAMP): tools/checkov-requirements.txt
	$(PYTHON) -m venv $(TOOLS)/checkov-venv
	$(TOOLS)/checkov-venv/bin/pip install -q --disable-pip-version-check -r tools/checkov-requirements.txt
	touch $@

tools: $(VENV_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) sysdeps
	$(PY) scripts/fetch_tools.py

# System packages the tests drive for real: docker-registry (an OCI registry) for the image-policy
# webhook's signature tests and the chart/image pushes; buildah + debootstrap (+ Debian's archive
# keyring, for Ubuntu hosts) to build and run the images. Installed only when missing and we are
# root on Debian/Ubuntu; elsewhere those tests skip and say how to install them.
SYSDEPS := docker-registry buildah debootstrap debian-archive-keyring
sysdeps:
	@missing=$$(for p in $(SYSDEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; } \
			|| echo "warning: could not install $$missing; the tests that need them will skip" >&2; \
	fi

demo: $(VENV_STAMP)
	$(PY) scripts/demo.py --out demo-out

lint: tools
	scripts/lint.sh

pytest: tools
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q

test: lint pytest

bench: tools
	$(PY) tests/bench/run.py $(BENCH)

docs: tools
	$(PY) scripts/gen_values_schema.py
	$(PY) scripts/gen_chart_docs.py

clean:
	rm -rf $(VENV) $(TOOLS) demo-out bench-out
