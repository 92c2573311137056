# One entry point for laptops and CI. `make test` and `make demo` set themselves up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LW_DIR ?= .localworld
# Where the local world keeps the GitOps repository: github, or azure-repos (make demo, services-up).
FORGE ?= github
PYTEST_ARGS ?=
# pytest-xdist workers (most tests wait on servers and subprocesses, so 2 pay off even on 2 cores);
# each test module runs whole on one worker, grouped as tests/conftest.py says. 0: one process.
PYTEST_WORKERS ?= 2
XDIST_ARGS = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder
# Arguments only `make test` (the full suite CI runs) adds: the pure core (bot/core) keeps 100%
# branch coverage, a gate a partial run such as `make test-fast` could not meet. Only the core.
COV_ARGS ?= --cov=bot/core --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100

.PHONY: help setup setup-debian demo test test-fast lint fmt bench services-up services-down validate image image-base wheelhouse smoke clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

setup: setup-debian $(VENV)/.installed node_modules/.installed ## install everything (idempotent, fast when done)

setup-debian: ## install the Debian packages the local world needs (only the missing ones)
	@scripts/setup-debian.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	@touch $@

# npm itself is a Debian package on a fresh machine; pip's install needs nothing from apt, so
# `make -j3 setup` (CI) runs apt-get and pip at once, then npm ci.
node_modules/.installed: package.json package-lock.json | setup-debian
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# pytest exits 5 when it collected nothing; a test target fails then.
define run_pytest
@rc=0; $(BIN)/pytest $(1) || rc=$$?; \
if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc
endef

test: setup ## run the whole test suite against the real local services (what CI runs)
	$(call run_pytest,$(XDIST_ARGS) $(COV_ARGS) $(PYTEST_ARGS))

test-fast: setup ## the developer loop: every test but the `slow` ones (image builds, demo)
	$(call run_pytest,$(XDIST_ARGS) -m "not slow" $(PYTEST_ARGS))

lint: setup ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: setup ## run the whole story end to end on the local world (FORGE=azure-repos: on Azure Repos)
	$(BIN)/python -m scripts.demo --forge $(FORGE)

bench: setup ## run the benchmarks in bench/ (figures, not asserts)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

services-up: setup ## start Azurite, the registry and git remotes; settings in .localworld/env
	$(BIN)/localworld up --dir $(LW_DIR) --forge $(FORGE)

services-down: ## stop the services started by services-up (by PID)
	@if [ -x $(BIN)/localworld ]; then $(BIN)/localworld down --dir $(LW_DIR); fi

# Needs a venv with the trainer (`make setup`, or CI's `pip install '.[train]'`), Azurite (npm ci)
# and buildah; pulls with TLS verified unless the registry is on loopback.
smoke: ## pull IMAGE_REF (by digest), run it with a freshly trained model, classify tests/data
	@test -n "$(IMAGE_REF)" || { echo "usage: make smoke IMAGE_REF=<name>@sha256:<digest> [REVISION=<sha>]" >&2; exit 2; }
	@test -x $(BIN)/python || { echo "make smoke: no $(VENV) here: run make setup first" >&2; exit 2; }
	$(BIN)/python -m scripts.smoke --image "$(IMAGE_REF)" $(if $(REVISION),--revision "$(REVISION)")

clean: services-down ## remove local state (venv and node_modules stay)
	rm -rf $(LW_DIR) .pytest_cache .mypy_cache .ruff_cache build

validate: setup ## render every overlay, validate against Kubernetes schemas offline, check pins + PSS
	$(BIN)/promotion-bot validate . $(if $(RENDER_DIR),--render-to "$(RENDER_DIR)")

# make image [IMAGE_REPO=host/repo] [IMAGE_TAG=t] [IMAGE_DIGEST_FILE=f] [APP_VERSION=v]
#            [APP_REVISION=sha] [IMAGE_SOURCE=url] [MODEL_INPUT_SIGNATURE=s] [IMAGE_ARGS=flags]
# Unset ones take the script's defaults (local registry, <version>-<build>-<sha7>, git HEAD).
image: setup ## build the service image (buildah, local Debian base), push it, record the digest
	$(BIN)/python -m scripts.build_image \
	  $(if $(IMAGE_REPO),--image "$(IMAGE_REPO)") \
	  $(if $(IMAGE_TAG),--tag "$(IMAGE_TAG)") \
	  $(if $(IMAGE_DIGEST_FILE),--digest-file "$(IMAGE_DIGEST_FILE)") \
	  $(if $(APP_VERSION),--version "$(APP_VERSION)") \
	  $(if $(APP_REVISION),--revision "$(APP_REVISION)") \
	  $(if $(IMAGE_SOURCE),--source "$(IMAGE_SOURCE)") \
	  $(if $(MODEL_INPUT_SIGNATURE),--signature "$(MODEL_INPUT_SIGNATURE)") \
	  $(IMAGE_ARGS)

image-base: setup ## only the image's Debian base (mmdebstrap, cached in build/image's storage)
	$(BIN)/python -m scripts.build_image --base-only

wheelhouse: $(VENV)/.installed ## only the image's pinned wheelhouse (build/image/wheelhouse), for `docker build .`
	$(BIN)/python -m scripts.build_image --wheelhouse-only
