# Two commands on a fresh machine (see README):
#   make example   - install into .venv and run the bundled example month
#   make test      - install into .venv and run ruff + the whole test suite
#                    (first installs Debian's chromium for the report's browser test, see `browser`)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: example test lint install clean browser

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

example: $(STAMP)
	$(BIN)/payouts run

lint: $(STAMP)
	$(BIN)/ruff check .

# Headless Chromium renders report.html in tests/e2e/test_report_browser.py. Installed from Debian
# when missing (as root, e.g. CI); otherwise says how. COR_SKIP_BROWSER=1 skips that one test instead.
browser:
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; else echo "install Debian's chromium package (sudo apt-get install chromium)"; exit 1; fi; }

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) output/*/
