# Two entry points (see README): `make demo` and `make test`. Both create .venv from a
# machine that has only Python, install pinned dependencies and the asset packages.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed
	$(BIN)/python -m dnd.tasks.bigbench_fetch  # BIG-bench task files of the unseen suite (cached; instant when present)

$(VENV)/.installed: requirements.txt requirements-assets.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-assets.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

demo: setup
	$(BIN)/dnd demo

test: setup
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV)
