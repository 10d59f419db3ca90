# The two commands that matter: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test setup lint format test-packages bench screenshots clean

# A virtualenv with exactly the locked dependencies, each stamp redone when its lock file
# changes: the server's own (requirements.lock, all `make run` needs), then the tests',
# linters' and benchmarks' on top (requirements-dev.lock, which includes the server's).
PIP_INSTALL = $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes

$(BIN)/.installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.lock
	touch $@

$(BIN)/.installed-dev: requirements-dev.lock $(BIN)/.installed
	$(PIP_INSTALL) -r requirements-dev.lock
	touch $@

setup: $(BIN)/.installed
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_sandbox

run: setup
	@echo "Serving the sandbox at http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	@echo "Teachers: create one with  .venv/bin/python manage.py create_teacher NAME  then log in at /login/"
	$(BIN)/daphne --bind $(HOST) --port $(PORT) sandbox.asgi:application

# Debian packages the tests drive: Chromium (browser tests), PostgreSQL and Redis (the
# multi-process test). Installed when missing and we are root; otherwise those tests are
# skipped with a message saying why.
TEST_PACKAGES = $(if $(wildcard /usr/bin/chromium),,chromium) \
	$(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql) \
	$(if $(wildcard /usr/bin/redis-server),,redis-server)

test-packages:
	@if [ -n "$(strip $(TEST_PACKAGES))" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's $(strip $(TEST_PACKAGES)) for the tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      $(TEST_PACKAGES) >/dev/null; \
	  else \
	    echo "Missing $(strip $(TEST_PACKAGES)), not installable here: their tests will be skipped"; \
	  fi; \
	fi

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(BIN)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup $(BIN)/.installed-dev test-packages lint
	$(BIN)/python -m pytest

# The README's screenshots, docs/desk-laptop.png and docs/desk-phone.png, taken by the browser
# test that otherwise leaves them in test-artifacts/.
screenshots: setup $(BIN)/.installed-dev test-packages
	SANDBOX_SCREENSHOTS=1 $(BIN)/python -m pytest tests/web/browser/test_screen_browser.py \
	  -k test_the_readme_screenshots -q

# Speed and memory against their baselines, on a real classroom; writes bench/results.md
# (about ten minutes). Section 6 runs PostgreSQL and Redis, section 9 Chromium (installed
# by test-packages as for the tests, or the section says why it was not measured). Exits
# non-zero when a client could not connect or a tick was lost.
bench: setup $(BIN)/.installed-dev test-packages
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .local
