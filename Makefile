# Every install step of the project lives here: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test test-fast bench validate e2e clean browser

$(BIN)/helpdesk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.venv-actions/.installed: scripts/actions-venv.sh
	bash scripts/actions-venv.sh
	touch $@

install: $(BIN)/helpdesk

## Debian's Chromium for the headless browser tests (Playwright, from the test extras, drives it)
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## Serve the helpdesk on http://127.0.0.1:5000 (SQLite under instance/, the default assistant)
run: install
	$(BIN)/helpdesk run

## Run the whole test suite (SQLite + PostgreSQL when reachable, a real rasa-sdk action server)
test: install .venv-actions/.installed browser
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest tests/unit

validate: install
	$(BIN)/helpdesk validate --assistant flows

e2e: install
	$(BIN)/helpdesk test --assistant flows flows/tests

bench: install
	$(BIN)/python bench/engine_turns.py
	$(BIN)/python bench/llm_prompt_tokens.py
	$(BIN)/python bench/widget_load.py
	$(BIN)/python bench/handoff_fanout.py

clean:
	rm -rf $(VENV) .venv-actions instance .pytest_cache
