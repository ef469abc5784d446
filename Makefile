# GLM-TTS on Kubernetes: one entry point for newcomers and CI.
#   make demo   synthesise a mixed Chinese/English sentence with the CPU backend into demo-out/
#   make serve  run the service (CPU backend) on http://127.0.0.1:8080/ from the demo's virtualenv
#   make test   lint + every test suite (what .ci/run calls)
#   make bench  benchmarks, printed as ratios measured in one run (BENCH=bench_x to pick one)
#   make docs   regenerate the charts' README parameter tables
#   make mutation  mutation score per core-logic module (mutmut; slow, not part of make test; MODULES=text to pick)
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

.PHONY: help venv tools go-tools sysdeps demo serve test lint pytest bench docs mutation clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

$(VENV_STAMP): requirements-test.txt inference/pyproject.toml hooks/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt -e inference -e 'hooks[cluster,weights,image-policy]'
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

# The ecosystem's Go tools (cosign, ct, helm-unittest, kyverno, tkn, actionlint, the control plane),
# pinned in tools/go-tools.toml, built once per version into $$GLM_TTS_TOOLS_CACHE and linked into .tools/bin.
# GO_TOOLS=0 skips them (their tests then skip locally; under CI=true they fail).
GO_TOOLS ?= 1
export GLM_TTS_TOOLS_CACHE ?= $(HOME)/.cache/glm-tts/tools
# helm-unittest is an offline helm plugin folder (helm 3 and 4 read it from here)
export HELM_PLUGINS := $(CURDIR)/$(TOOLS)/helm-plugins
go-tools: $(VENV_STAMP)
	@if [ "$(GO_TOOLS)" = 1 ]; then $(PY) scripts/build_go_tools.py; else echo "go-tools: skipped (GO_TOOLS=0)"; fi

tools: $(VENV_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) sysdeps go-tools
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
	@# Debian's Chromium for the web page's browser tests (Playwright drives it; never `playwright install`).
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
			|| echo "warning: could not install chromium; the browser tests will skip" >&2; \
	fi

# The demo's own small virtualenv: the service and its runtime dependencies only (no torch, no test tools).
DEMO_VENV := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed
$(DEMO_STAMP): inference/pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install -q --disable-pip-version-check -e inference
	touch $@

demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/python scripts/demo.py --out demo-out

serve: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/glm-tts-server serve --host 127.0.0.1 --port 8080

lint: tools
	scripts/lint.sh

pytest: tools
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

test: lint pytest

bench: tools
	$(PY) tests/bench/run.py $(BENCH)

# Mutants of each core-logic module (tools/mutation.toml) run against that module's own tests only.
# (sysdeps: the signature tests run against a real OCI registry, Debian's docker-registry.)
mutation: $(VENV_STAMP) sysdeps
	$(PY) scripts/mutation.py $(MODULES)

docs: tools
	$(PY) scripts/gen_values_schema.py
	$(PY) scripts/gen_chart_docs.py

clean:
	rm -rf $(VENV) $(DEMO_VENV) $(TOOLS) demo-out bench-out .mutation
