# Calibrate: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# irrCAC (a reference package the statistics are tested against) pins scipy==1.12.0, which
# cannot be installed beside NumPy 2; it is installed without its dependencies.
REFERENCE_NODEPS := irrCAC==0.4.4

CLOCKS ?= 2027-01-06T00:30 2026-12-31T23:55 2028-02-29T23:30

.PHONY: demo install install-test test test-clock print-clocks lint check-content benchmark browser-deps loadtest loadtest-two faults

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps "$(REFERENCE_NODEPS)"

## make demo: install, create the SQLite database, load content, create demo accounts, serve.
demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Calibrate is starting at http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## Debian's Chromium for the browser tests (Playwright's own browser download does not work
## here). Installed with apt-get when missing and we are root; otherwise says what to do.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'."; \
	fi

## axe-core (accessibility checks in the browser tests) from the npm registry, pinned by
## package-lock.json.
node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

## make test: install the test dependencies and run the whole suite.
test: install-test browser-deps node_modules/axe-core/axe.min.js
	$(BIN)/pytest

## make test-clock: the suite without the browser and fault tests, once per moment in CLOCKS
## (early in a month, the last minutes of a year, a leap day's evening), with the clock moved
## there and ticking. SQLite only: PostgreSQL's own now() does not follow a faked Python clock.
test-clock: install-test
	@for clock in $(CLOCKS); do \
		echo "--- the suite with the clock at $$clock (SQLite) ---"; \
		env -u DATABASE_URL $(BIN)/pytest -q -p no:cacheprovider -m "not browser and not fault" \
			--clock $$clock || exit 1; \
	done

print-clocks:
	@echo $(CLOCKS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

check-content: install
	$(BIN)/python manage.py load_content --check
	$(BIN)/python manage.py content_report

benchmark: install-test
	$(BIN)/python -m benchmarks

## make loadtest: locust against gunicorn and a fresh PostgreSQL database on this machine
## (docs/performance.md, "Load test"); prints the figures and the no-loss check.
loadtest: install
	$(BIN)/pip install --quiet -e ".[load]"
	$(BIN)/python -m loadtest

## make loadtest-two: the same with two application servers on one database and one Redis
## (REDIS_URL, default redis://127.0.0.1:6379/11), the clients spread over both by a
## round-robin proxy, and checks that sessions, sign-in throttling, the verification rate
## limit and the exam clock work across them (docs/performance.md, "Two application servers").
loadtest-two: install
	$(BIN)/pip install --quiet -e ".[load]"
	$(BIN)/python -m loadtest --servers 2 --database calibrate_load_two

## make faults: the fault tests alone (tests/faults/, also part of `make test`), with their
## figures printed and kept in artifacts/faults-*.json (docs/performance.md, "Faults"). The
## PostgreSQL cut needs PostgreSQL at 127.0.0.1:5432 and is skipped without it.
faults: install-test
	$(BIN)/pytest tests/faults -m fault -s -q
