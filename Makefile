# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test worker beat lint sysdeps messages browser install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

sysdeps:
	@scripts/ensure_system_packages.sh

# French (and any other) translations: compiled from locale/*/LC_MESSAGES/django.po.
messages: $(VENV)/.installed
	@scripts/compile_messages.sh $(BIN)/python

# Browser tests drive Debian's Chromium (/usr/bin/chromium); installed when missing.
browser:
	@scripts/ensure_browser.sh

install: sysdeps $(VENV)/.installed
install-dev: sysdeps $(VENV)/.installed-dev

# The demo: embedded defaults (SQLite, local-memory cache, eager tasks, console email).
# DATABASE_URL/REDIS_URL from the environment are ignored here on purpose; set them in
# .env to run the demo on PostgreSQL and Redis.
run: install messages
	env -u DATABASE_URL -u REDIS_URL DEBUG=1 $(BIN)/python manage.py migrate --noinput
	env -u DATABASE_URL -u REDIS_URL DEBUG=1 $(BIN)/python manage.py seed_demo
	env -u DATABASE_URL -u REDIS_URL DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:8000

# The whole suite against PostgreSQL and Redis (never SQLite: the locking tests need rows locks).
test: install-dev messages browser
	$(BIN)/python scripts/check_services.py
	SECRET_KEY=test-only-secret ALLOWED_HOSTS=testserver,localhost,127.0.0.1 \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

worker: install
	$(BIN)/celery -A ticketing worker --loglevel=INFO

beat: install
	$(BIN)/celery -A ticketing beat --loglevel=INFO

lint: install-dev
	$(BIN)/ruff check .

bench: install-dev
	$(BIN)/python scripts/check_services.py
	$(BIN)/python bench/holds.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
