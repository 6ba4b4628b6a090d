# The two commands of the README, `make demo` and `make test`, and `make docs` (the site).
# Each creates the virtual environment on first use (.venv), installs lever_gym with its
# pinned dependencies, then runs. `make wheel` builds the wheel into dist/ (no .venv needed).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lever-gym-installed
# annoy compiles from source; its default -march=native would tie the build to this CPU.
export ANNOY_COMPILER_ARGS ?= -O3,-ffast-math,-fno-associative-math,-std=c++14,-DANNOYLIB_MULTITHREADED_BUILD

.PHONY: demo test lint docs install wheel clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lever-gym demo

# Slow tests (marked `slow`) run in CI (CI=true) and with `make test SLOW=1`.
PYTEST_MARKS := $(if $(or $(CI),$(SLOW)),-m "slow or not slow",)

test: $(STAMP)
	$(BIN)/ruff check lever_gym tests examples benchmarks
	$(BIN)/ruff format --check lever_gym tests examples benchmarks
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q $(PYTEST_MARKS)

lint: $(STAMP)
	$(BIN)/ruff check lever_gym tests examples benchmarks
	$(BIN)/ruff format --check lever_gym tests examples benchmarks

# The documentation site in strict mode (any warning fails), into build/site. The variable
# silences mkdocs-material's banner about its end of life, which is not about these pages.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir build/site

# The wheel the README installs, built by $(PYTHON)'s pip in an isolated build environment
# (setuptools from the index); dependencies are not bundled. setuptools' in-tree build
# folders go first, so no file deleted since the last build can slip into the wheel.
DIST ?= dist
wheel:
	rm -rf build/lib build/bdist.* lever_gym.egg-info
	$(PYTHON) -m pip wheel --no-deps --wheel-dir $(DIST) .
	rm -rf build/lib build/bdist.* lever_gym.egg-info
	-rmdir build 2>/dev/null

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
