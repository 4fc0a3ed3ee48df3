# Two entry points: `make demo` and `make test`. Each creates .venv and installs what it needs.
# `make check` is the developer's fast loop: lint, types and every test but the Spark and browser ones.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo
PERSONS ?= 100000

CHROMIUM := /usr/bin/chromium
JAVA := /usr/bin/java
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo demo-data screenshots test check lint install bench clean

# The demo installs what it runs (about 0.8 GB); the tests and tools add the dev extra and Spark
# (pyspark alone is 470 MB, and the demo never starts it).
# One pip run each: a second run resolves every requirement again.
WITH_TOOLS := .[dev,spark]
define venv
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '$(1)'
endef

$(VENV)/.runtime: pyproject.toml
	$(call venv,.)
	touch $@

$(VENV)/.dev: pyproject.toml
	$(call venv,$(WITH_TOOLS))
	touch $@ $(VENV)/.runtime

install: $(VENV)/.dev

# The first run makes the demo workspace (demo-data); later runs serve it at once (`make demo-data` makes it again).
demo: $(VENV)/.runtime $(DEMO)/.built
	$(BIN)/parcours info -w $(DEMO)
	$(BIN)/parcours serve -w $(DEMO) --host 127.0.0.1 --port 8000

# The demo workspace: simulated data, loaded (every table the simulator writes) and built (loading the
# same files again adds nothing).
demo-data: $(VENV)/.runtime
	$(BIN)/parcours simulate --persons $(PERSONS) --seed 7 --scenario heterogeneous --out $(DEMO)/data --load-into $(DEMO)
	$(BIN)/parcours audience save email-no-order -w $(DEMO) --description "Touched by email in the last 7 days, no conversion in 30" \
	  --when '{"all": [{"touched": "email", "within_days": 7}, {"not": {"converted": true, "within_days": 30}}]}'
	$(BIN)/parcours audience save mobile-cart -w $(DEMO) --description "Mobile users who reached the cart" \
	  --when '{"all": [{"device": "mobile"}, {"stage_reached": "cart"}]}'
	$(BIN)/parcours audience save welcome-openers -w $(DEMO) --description "Opened the welcome series" \
	  --when '{"message": "opened", "journey": "welcome"}'
	$(BIN)/parcours audience save premium-returning -w $(DEMO) --description "Premium CRM segment, bought before" \
	  --when '{"all": [{"attribute": "segment", "equals": "premium"}, {"customer": "returning"}]}'
	$(BIN)/parcours build -w $(DEMO)
	touch $(DEMO)/.built

$(DEMO)/.built:
	$(MAKE) demo-data

# A PNG of every page (simple and expert, English and French, desktop and phone) of the demo.
screenshots: install $(CHROMIUM) $(DEMO)/.built
	$(BIN)/python tools/screenshots.py --workspace $(DEMO) --out docs/screenshots

# The browser tests drive Debian's Chromium (never a browser downloaded by Playwright).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The Spark parity test needs a Java runtime (Spark 4.0 runs on Java 17).
$(JAVA):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless

lint: install
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy

test: install $(CHROMIUM) $(JAVA) lint
	$(BIN)/python -m pytest -n 2 -q --durations=15

check: lint
	$(BIN)/python -m pytest -n 2 -q -m "not spark and not browser"

bench: install
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/reports.py --workspace bench-out/ws

clean:
	rm -rf $(VENV) $(DEMO)
