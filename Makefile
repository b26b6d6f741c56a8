# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The suite's services. Only `test`, `bench` and `smoke` read these: the demo never
# sees them (with no DATABASE_URL of the user's, it starts its own PostgreSQL).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run manage test smoke faults worker beat lint sysdeps sysdeps-test messages browser \
	install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-demo: requirements.txt requirements-demo.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-demo.txt
	touch $(VENV)/.installed $@

$(VENV)/.installed-dev: requirements.txt requirements-demo.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $(VENV)/.installed-demo $@

sysdeps:
	@scripts/ensure_system_packages.sh

# The suite's system tools too (pdftoppm, for the ticket page image).
sysdeps-test:
	@scripts/ensure_system_packages.sh --test

# French (and any other) translations: compiled from locale/*/LC_MESSAGES/django.po.
messages: $(VENV)/.installed
	@scripts/compile_messages.sh $(BIN)/python

# Browser tests drive Debian's Chromium (/usr/bin/chromium); installed when missing.
browser:
	@scripts/ensure_browser.sh

install: sysdeps $(VENV)/.installed
install-dev: sysdeps $(VENV)/.installed-dev

# The demo on http://127.0.0.1:$(PORT)/: an embedded PostgreSQL under .demo/ (or your
# DATABASE_URL, from the environment or .env), eager tasks, console email. Ctrl-C stops
# the server and the database; the next `make run` finds the same data.
run: sysdeps $(VENV)/.installed-demo messages
	$(BIN)/python scripts/demo.py run --port $(PORT)

# One management command against the demo's database, e.g.
#   make manage ARGS="create_api_key paris-masterclass --name 'Box office'"
# Links it prints point at PORT, as `make run PORT=...` serves them.
manage: $(VENV)/.installed-demo
	$(BIN)/python scripts/demo.py manage --port $(PORT) $(ARGS)

# The whole suite against PostgreSQL and Redis, after the apps' import layers
# (pyproject.toml, [tool.importlinter]).
# With no PostgreSQL at the default URL, the embedded one (scripts/test_database.py).
test: install-dev sysdeps-test messages browser
	$(BIN)/lint-imports
	@database=$$(DATABASE_URL=$(TEST_DATABASE_URL) \
	  EMBEDDED_FALLBACK=$(if $(filter file,$(origin TEST_DATABASE_URL)),1,0) \
	  $(BIN)/python scripts/test_database.py start) || exit 1; \
	DATABASE_URL=$$database REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/python scripts/check_services.py || exit 1; \
	DATABASE_URL=$$database REDIS_URL=$(TEST_REDIS_URL) \
	  SECRET_KEY=test-only-secret ALLOWED_HOSTS=testserver,localhost,127.0.0.1 \
	  SITE_URL=http://testserver \
	  $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	$(BIN)/python scripts/test_database.py stop; exit $$status

# What users start, started as they would: a deployment built from requirements.txt
# alone (gunicorn, a Celery worker and beat on PostgreSQL and Redis) and `make run`.
smoke: sysdeps
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  $(PYTHON) scripts/smoke.py
	$(MAKE) faults

# Fault tests that start processes (a real Celery worker, SIGKILLed mid-task for each
# task kind, on a redis-server of their own), then the short chaos run (bench/chaos.py
# --short, about 2.5 min: sales, webhook storms, platform syncs through faults, a worker
# killed and Redis restarted; zero drift, exactly once).
faults: install-dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  SECRET_KEY=test-only-secret ALLOWED_HOSTS=testserver,localhost,127.0.0.1 \
	  SITE_URL=http://testserver FAULT_TESTS=1 \
	  $(BIN)/python -m pytest ticketing/tests/test_faults_worker.py -q
	CHAOS_DATABASE_URL=$(dir $(TEST_DATABASE_URL))chaos $(BIN)/python bench/chaos.py --short

worker: install
	$(BIN)/celery -A ticketing worker --loglevel=INFO

beat: install
	$(BIN)/celery -A ticketing beat --loglevel=INFO

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Every benchmark (bench/run_all.py), each against its baseline in the same run, then
# one table of ratios to the targets; figures in bench/results/<date>.json. QUICK=1:
# shorter runs (~10 min); ONLY=holds,api picks some. Needs wrk (apt-get install wrk).
bench: install-dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/python scripts/check_services.py
	$(BIN)/python bench/run_all.py $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))

clean:
	$(BIN)/python scripts/demo.py stop 2>/dev/null || true
	rm -rf $(VENV) staticfiles
