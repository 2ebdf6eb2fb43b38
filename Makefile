# Corral: one interface for people and CI. `make help` lists the targets.
include ci/versions.env

SHELL      := bash
.SHELLFLAGS := -euo pipefail -c
TOOLS      := .tools/bin
HELM       := $(TOOLS)/helm
HELM3      := $(TOOLS)/helm3
HELM_DOCS  := $(TOOLS)/helm-docs
# The one version of a release: the packaged chart's version and appVersion, and the wheel's.
VERSION    := $(file <VERSION)
DIST       ?= dist
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
# The Go builds take the CPU and the engine venv mostly waits on downloads and disk, so the two
# run side by side (the engine's venv first, as it needs .venv's Python).
setup: ## Install every pinned tool into .tools/, the Python venv into .venv/, the engine tier into .engine/, Chromium for the UI tests
	$(MAKE) --no-print-directory -j2 --output-sync=line tools engine browser

.PHONY: tools
tools: ## Build Helm 4 and 3, helm-unittest, helm-docs, the OCI registry, Prometheus and promtool, rclone and a loopback S3 server (moto), and the cluster's binaries; copy the CRDs (cached)
	bash ci/setup-tools.sh
	bash ci/setup-crds.sh
	bash ci/setup-cluster-tools.sh
	bash ci/setup-prometheus.sh
	bash ci/setup-rclone.sh
	bash ci/setup-s3.sh

.PHONY: venv
venv: $(VENV)/.installed ## Create the Python venv with the corral package (editable) and test deps

$(VENV)/.installed: pyproject.toml VERSION
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

.PHONY: engine
engine: venv ## Install vLLM's CPU build into .engine/venv and generate the test model (cached)
	bash ci/setup-engine.sh

.PHONY: browser
browser: ## Install Debian's chromium and chromium-driver (pinned) for the browser tests of `corral ui` (apt-get; skipped when installed)
	bash ci/setup-browser.sh

.PHONY: test
test: lint unittest golden-check docs-check kube-validate python-lint pytest ## Everything CI runs

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

HELM_DOCS_ARGS := --chart-search-root chart --log-level warning

.PHONY: docs
docs: ## Write chart/README.md, the values reference, from values.yaml's `# --` comments (helm-docs)
	$(HELM_DOCS) $(HELM_DOCS_ARGS)

.PHONY: docs-check
docs-check: ## Fail when chart/README.md is not what `make docs` writes
	$(HELM_DOCS) $(HELM_DOCS_ARGS) --dry-run | diff -u chart/README.md - \
	  || { echo "docs: chart/README.md is stale; run \`make docs\`" >&2; exit 1; }

.PHONY: package
package: ## Package the chart and the Python wheel and sdist into dist/ (DIST=...), all stamped with VERSION
	$(HELM) package chart --version $(VERSION) --app-version $(VERSION) --destination $(DIST)
	$(PY) -m build --no-isolation --outdir $(DIST) .

.PHONY: publish
publish: package ## Push the packaged chart to an OCI registry: make publish REGISTRY=oci://host/path
	@test -n "$(REGISTRY)" || { echo "publish: set REGISTRY=oci://host/path" >&2; exit 2; }
	$(HELM) push $(DIST)/corral-$(VERSION).tgz $(REGISTRY)

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

# Extra `corral demo` options, e.g. make demo DEMO_ARGS=--port=8081
DEMO_ARGS ?=

.PHONY: demo
demo: ## The whole stack on this machine (local cluster, vLLM CPU build, SMG) answering requests; Ctrl-C stops it
	@test -x $(VENV)/bin/corral || { echo "demo: .venv/bin/corral is missing; run \`make setup\`" >&2; exit 2; }
	$(VENV)/bin/corral demo $(DEMO_ARGS)

.PHONY: demo-down
demo-down: ## Stop a running `make demo` and remove its cluster
	@test -x $(VENV)/bin/corral || { echo "demo: .venv/bin/corral is missing; run \`make setup\`" >&2; exit 2; }
	$(VENV)/bin/corral demo --down

.PHONY: cluster-up
cluster-up: ## Start the local test cluster (then: eval "$(bash ci/cluster.sh env)")
	bash ci/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local test cluster
	bash ci/cluster.sh down

.PHONY: clean
clean: ## Remove the toolchain, the venv and the engine tier
	rm -rf .tools $(VENV) .engine
