# Every install step of the project lives here: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-runtime run test test-fast lint bench validate e2e clean browser rasa-webchat mail-servers nginx

## what the service needs (with pip's progress): `make run`
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e .
	touch $@

## plus the test extras: `make test` and the other developer targets
$(BIN)/helpdesk: $(VENV)/.runtime
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.venv-actions/.installed: scripts/actions-venv.sh
	bash scripts/actions-venv.sh
	touch $@

## mypy does not follow the editable install's import hook; it reads the package through this link
## (pyproject: [tool.mypy] mypy_path)
$(VENV)/mypy/helpdesk: | $(VENV)/.runtime
	mkdir -p $(VENV)/mypy
	ln -sfn $(CURDIR) $@

install: $(BIN)/helpdesk $(VENV)/mypy/helpdesk

install-runtime: $(VENV)/.runtime

## Debian's Chromium for the headless browser tests (Playwright, from the test extras, drives it)
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## Debian's Dovecot for the IMAP tests (tests/mailservers.py starts its own instance on a free loopback
## port with a configuration in a temporary folder; the system service is not used)
mail-servers:
	@test -x /usr/sbin/dovecot || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd)

## Debian's nginx for the whole-topology fault tests and benchmark (deploy/topology.py starts its own
## instance, not a daemon, with a configuration, pid, logs and temp dirs in a temporary folder; the
## system service is not used)
nginx:
	@test -x /usr/sbin/nginx || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)

## rasa-webchat 1.0.1 (Botfront's Rasa web chat) for tests/browser/test_rasa_webchat.py: the npm tarball,
## checked against its sha512, unpacked into .cache/node/ (lib/index.js is a self-contained UMD bundle:
## no dependencies, no install scripts). Without npm the step only warns and that test skips.
RASA_WEBCHAT := .cache/node/rasa-webchat-1.0.1
RASA_WEBCHAT_SHA512 := 2ddd73549bd301a4ebb3a039a7cb7bd1a80d36b2984725e5bea5d94600680ef28a5176c0d238492840a2e5b74f1a5691ea3b26a96b55ca51d2f98a88aa8d31f3

rasa-webchat: $(RASA_WEBCHAT)/lib/index.js

$(RASA_WEBCHAT)/lib/index.js:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "npm not found: rasa-webchat not installed, tests/browser/test_rasa_webchat.py will skip"; \
	else \
		set -e; rm -rf $(RASA_WEBCHAT) $(RASA_WEBCHAT).tmp; mkdir -p $(RASA_WEBCHAT).tmp; \
		(cd $(RASA_WEBCHAT).tmp && npm pack --silent --no-audit --no-fund rasa-webchat@1.0.1 >/dev/null); \
		echo "$(RASA_WEBCHAT_SHA512)  $(RASA_WEBCHAT).tmp/rasa-webchat-1.0.1.tgz" | sha512sum --check --quiet; \
		tar -xzf $(RASA_WEBCHAT).tmp/rasa-webchat-1.0.1.tgz -C $(RASA_WEBCHAT).tmp; \
		mv $(RASA_WEBCHAT).tmp/package $(RASA_WEBCHAT); rm -rf $(RASA_WEBCHAT).tmp; \
		echo "rasa-webchat 1.0.1 in $(RASA_WEBCHAT)"; \
	fi

## Serve the helpdesk on http://127.0.0.1:5000 (SQLite under instance/, the default assistant)
run: install-runtime
	$(BIN)/helpdesk run

## Run the whole test suite (SQLite + PostgreSQL when reachable, a real rasa-sdk action server),
## after the linters
test: lint install .venv-actions/.installed browser rasa-webchat mail-servers nginx
	$(BIN)/python -m pytest

## ruff (lint + import order) and mypy (pydantic plugin), both configured in pyproject.toml
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test-fast: install
	$(BIN)/python -m pytest tests/unit

validate: install
	$(BIN)/helpdesk validate --assistant flows

e2e: install
	$(BIN)/helpdesk test --assistant flows flows/tests

bench: install
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/engine_turns.py
	$(BIN)/python bench/llm_prompt_tokens.py
	$(BIN)/python bench/widget_load.py
	$(BIN)/python bench/llm_turns.py
	$(BIN)/python bench/handoff_fanout.py
	$(BIN)/python bench/slack_events.py

clean:
	rm -rf $(VENV) .venv-actions instance .pytest_cache .cache $(HOME)/.cache/helpdesk
