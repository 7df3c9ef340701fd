# Two commands from a fresh clone (each creates the virtualenv when it is missing):
#   make quickstart   install, then train configs/quickstart.yaml on the built-in data set
#   make test         install, then lint, type-check, build the docs and run the whole test suite (.ci/run calls this)
#   make docs         build the documentation site (docs/, mkdocs.yml) into build/site/, failing on any broken link
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install quickstart test lint docs

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

quickstart: install
	$(BIN)/vae train configs/quickstart.yaml

lint: install
	$(BIN)/ruff check vaecli tests benchmarks scripts
	$(BIN)/ruff format --check vaecli tests benchmarks scripts
	$(BIN)/mypy

# --strict: a broken link, anchor or API reference (mkdocstrings) fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

# Two workers, one test file each: a file's trained runs are built once, and the suite takes ~10
# instead of ~14 minutes on 2 cores (CPU-bound TensorFlow steps overlap with process start-ups).
test: lint docs
	$(BIN)/python -m pytest -n 2 --dist loadfile
