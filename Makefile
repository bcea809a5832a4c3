# Two entry points (see README): `make demo` and `make test`. Both create .venv from a
# machine that has only Python, install pinned dependencies and the asset packages.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean browser

setup: $(VENV)/.installed
	@# BIG-bench task files of the unseen suite (cached; instant when present). Not fatal: the sdist
	@# left PyPI in 2026-12, so without a local copy ($$DND_BIGBENCH_TARBALL, or a BIG-bench checkout: $$DND_BIGBENCH_CHECKOUT) only that suite is missing.
	@$(BIN)/python -m dnd.tasks.bigbench_fetch || echo "make setup: continuing without the BIG-bench cache: the unseen suite (dnd benchmark --suite unseen) needs it; dnd demo falls back to wide_val; the heldout suite (--suite heldout) needs no download" >&2

$(VENV)/.installed: requirements.txt requirements-assets.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-assets.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

demo: setup
	$(BIN)/dnd demo

# Test files spread over the cores (at most 4 workers; a file's tests stay together, so its
# fixtures are built once), one torch thread per worker unless OMP_NUM_THREADS says otherwise.
test: setup browser
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile tests

# Debian's chromium for the page's browser test (tests/serving/test_browser.py, driven by
# Playwright pointed at /usr/bin/chromium: no browser download). Installed only when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

clean:
	rm -rf $(VENV)
