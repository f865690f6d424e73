# Entry points: make run | test | bench | lint | fmt | stop | clean  (see README.md)
# Deployed stages: make deploy | smoke | destroy STAGE=<stage>  (see infra/README.md)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DDB_SIM := amplify-dynamodb-simulator@2.9.30
JAR := .local/tools/dynamodb/DynamoDBLocal.jar
AXE_PKG := axe-core@4.10.3
AXE := .local/tools/axe/axe.min.js
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run stop test unit lint typecheck fmt bench soak clean system-deps lock package rehearse deploy smoke destroy

install: $(STAMP) $(JAR) $(AXE) system-deps

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "install: Python 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@mkdir -p .local && echo "install: pip install -r requirements-dev.txt (log: .local/pip.log)"
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt > .local/pip.log 2>&1 || { tail -n 20 .local/pip.log; echo "install: pip could not install requirements-dev.txt (is PyPI reachable?)"; exit 1; }
	@touch $@

$(JAR):
	@command -v npm >/dev/null || { echo "install: npm is missing: apt-get install -y npm (it fetches DynamoDB Local's jar)"; exit 1; }
	@rm -rf .local/tools/pack && mkdir -p .local/tools/pack
	@cd .local/tools/pack && npm pack --silent $(DDB_SIM) >/dev/null || { echo "install: npm pack $(DDB_SIM) failed (is the npm registry reachable?)"; exit 1; }
	@cd .local/tools/pack && tar xzf amplify-dynamodb-simulator-*.tgz
	@rm -rf .local/tools/dynamodb && mv .local/tools/pack/package/emulator .local/tools/dynamodb && rm -rf .local/tools/pack
	@echo "install: DynamoDB Local ready in .local/tools/dynamodb"

# axe-core checks every dashboard page's accessibility in the browser tests (npm registry, no CDN).
$(AXE):
	@command -v npm >/dev/null || { echo "install: npm is missing: apt-get install -y npm (it fetches axe-core)"; exit 1; }
	@rm -rf .local/tools/axe-pack && mkdir -p .local/tools/axe-pack .local/tools/axe
	@cd .local/tools/axe-pack && npm pack --silent $(AXE_PKG) >/dev/null || { echo "install: npm pack $(AXE_PKG) failed (is the npm registry reachable?)"; exit 1; }
	@cd .local/tools/axe-pack && tar xzf axe-core-*.tgz && cp package/axe.min.js ../axe/axe.min.js
	@rm -rf .local/tools/axe-pack && echo "install: axe-core ready in .local/tools/axe"

# Java runs DynamoDB Local; Chromium runs the browser tests. Both come from Debian's packages.
system-deps:
	@command -v java >/dev/null && command -v chromium >/dev/null || { \
	  echo "install: installing Debian packages (java, chromium)"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless chromium >/dev/null || \
	  { echo "install: apt-get could not install openjdk-17-jre-headless and chromium"; exit 1; }; }

run: install
	@$(PY) -m infra.local.run

stop:
	@if [ -f .local/run.pid ]; then kill $$(cat .local/run.pid) 2>/dev/null && echo "stopping make run" || echo "make run was not running"; else echo "make run is not running"; fi

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy app.py chalicelib infra

fmt: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: install lint typecheck
	$(PY) -m pytest -q

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: install
	$(PY) -m bench

# requirements.lock pins every runtime distribution (for the Lambda zip); rewrite it after editing requirements.txt.
lock: $(STAMP)
	$(PY) -m infra.package --lock

# The Lambda package make deploy uploads (and the rehearsal in tests/deploy/ runs): .local/infra/<stage>/package/.
STAGE ?= dev
package: $(STAMP)
	$(PY) -m infra.package --stage $(STAGE) --out .local/infra/$(STAGE)

# The deploy rehearsal alone (make test runs it too): the dev package in Lambda's runtime, no AWS account needed.
rehearse: install
	$(PY) -m pytest -q tests/deploy

soak: install
	SOAK=1 $(PY) -m pytest -q tests/integration/test_reliability.py

# A deployed stage: package, upload, create or update its stack; prove it; tear it down (infra/README.md).
# These never fall back to the default STAGE above: a stack is named on the command line or not touched.
NAMED_STAGE = $(if $(filter file,$(origin STAGE)),,$(STAGE))
deploy: $(STAMP)
	@$(PY) -m infra.deploy deploy --stage "$(NAMED_STAGE)" --params "$(PARAMS)"

smoke: $(STAMP)
	@$(PY) -m infra.smoke --stage "$(NAMED_STAGE)"

destroy: $(STAMP)
	@$(PY) -m infra.deploy destroy --stage "$(NAMED_STAGE)" --confirm "$(CONFIRM)"

clean:
	rm -rf .local/dynamodb .local/logs .local/outbox test-artifacts
