# Corral: one interface for people and CI. `make help` lists the targets.
include ci/versions.env

SHELL      := bash
.SHELLFLAGS := -euo pipefail -c
TOOLS      := .tools/bin
HELM       := $(TOOLS)/helm
HELM3      := $(TOOLS)/helm3
VENV       := .venv
PY         := $(VENV)/bin/python
EXAMPLES   := $(sort $(wildcard examples/*.yaml))
RELEASE    := llm
NAMESPACE  := corral

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: setup
setup: tools venv engine ## Install every pinned tool into .tools/, the Python venv into .venv/, the engine tier into .engine/

.PHONY: tools
tools: ## Build Helm 4, Helm 3, helm-unittest, Prometheus and promtool, and the local cluster's binaries; copy the CRDs (cached)
	bash ci/setup-tools.sh
	bash ci/setup-crds.sh
	bash ci/setup-cluster-tools.sh
	bash ci/setup-prometheus.sh

.PHONY: venv
venv: $(VENV)/.installed ## Create the Python venv with the corral package (editable) and test deps

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

.PHONY: engine
engine: venv ## Install vLLM's CPU build into .engine/venv and generate the test model (cached)
	bash ci/setup-engine.sh

.PHONY: test
test: lint unittest golden-check kube-validate python-lint pytest ## Everything CI runs

.PHONY: lint
lint: ## helm lint --strict on the chart with each example (Helm 4 and Helm 3)
	for f in $(EXAMPLES); do $(HELM) lint --strict chart -f $$f --quiet; $(HELM3) lint --strict chart -f $$f --quiet; done

.PHONY: unittest
unittest: ## helm-unittest suites under Helm 4 and Helm 3
	$(HELM) unittest --strict --file 'tests/**/*_test.yaml' chart
	$(HELM3) unittest --strict --file 'tests/**/*_test.yaml' chart

.PHONY: golden
golden: ## Rewrite the golden renders in tests/golden/
	$(PY) ci/golden.py write

.PHONY: golden-check
golden-check: ## Fail when a render differs from its golden
	$(PY) ci/golden.py check

.PHONY: kube-validate
kube-validate: ## Validate every golden render against each pinned Kubernetes version and the CRDs (strict)
	$(PY) ci/kube_validate.py --min $(KUBE_VALIDATE_MIN) --max $(KUBE_VALIDATE_MAX) tests/golden/*.yaml

.PHONY: python-lint
python-lint: ## ruff (lint and format) and mypy --strict on the Python code
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy

.PHONY: pytest
pytest: ## Python tests
	$(PY) -m pytest -q

.PHONY: cluster-up
cluster-up: ## Start the local test cluster (then: eval "$(bash ci/cluster.sh env)")
	bash ci/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local test cluster
	bash ci/cluster.sh down

.PHONY: clean
clean: ## Remove the toolchain, the venv and the engine tier
	rm -rf .tools $(VENV) .engine
