# pyferry: `make demo` runs the examples, `make test` runs every check.
# Both set up what they need first: a .venv with the Python package and its
# dev tools, and js/node_modules from the committed package-lock.json.

SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYFERRY_PYTHON := $(abspath $(PY))

.PHONY: setup demo test checks packages bench bench-dask bench-shm lint typecheck pytest pytest-main pytest-dask jstest jstest-portable tstest fuzz clean

setup: $(VENV)/.stamp js/node_modules/.stamp js/dist/pyferry.js node_modules/pyferry node_modules/apache-arrow

# Lets examples/ import 'pyferry' as an application would.
node_modules/pyferry:
	mkdir -p node_modules
	ln -sfn ../js node_modules/pyferry

# ... and its optional peer apache-arrow (examples/dataframe.mjs), the very copy pyferry loads.
node_modules/apache-arrow: | js/node_modules/.stamp
	mkdir -p node_modules
	ln -sfn ../js/node_modules/apache-arrow node_modules/apache-arrow

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --group dev -e ".[scipy,dataframe,dask]"
	touch $@

js/node_modules/.stamp: js/package.json js/package-lock.json
	cd js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# What `import 'pyferry'` loads: js/src bundled into one module (see js/build.mjs).
js/dist/pyferry.js: js/build.mjs $(wildcard js/src/*.js) js/node_modules/.stamp
	cd js && node build.mjs

demo: setup
	node examples/start.mjs
	node examples/spectrum.mjs
	node examples/dataframe.mjs
	node examples/optimize.mjs
	node examples/cluster.mjs

# The checks run two at a time (the machines have two cores or more), longest first; -k runs
# every one even after a failure. Each check's output is printed whole when it ends. pytest
# runs in two parts, the Dask tests apart, so that the two lanes take about as long.
test: setup
	$(MAKE) --no-print-directory --keep-going -j2 --output-sync=target checks

checks: pytest-main jstest pytest-dask jstest-portable lint typecheck tstest

# Both packages of one version, into packages/: the npm tarball (with its Python runtime, by
# prepare) and the Python wheel and sdist (offline: build and hatchling are dev dependencies).
packages: setup
	rm -rf packages && mkdir packages
	cd js && npm pack --pack-destination ../packages --loglevel=error
	$(PY) -m build --no-isolation --outdir packages .
	ls packages

# pyferry against the raw floor and the peer bridges, measured in the same run (a few minutes);
# see bench/README.md. BENCH_ROUNDS=<n> (at least 5) changes the number of rounds.
bench: setup bench/peers/node_modules/.stamp
	$(PY) -m compileall -q src/pyferry  # workers load bytecode, as from an installed wheel
	node --expose-gc bench/run.mjs
	node --expose-gc bench/dask.mjs

# The Dask rows alone: backend: 'dask' against a bare distributed.Client (~2 minutes).
# BENCH_DASK_ROUNDS=<n> (at least 3) changes the number of rounds.
bench-dask: setup
	$(PY) -m compileall -q src/pyferry
	node --expose-gc bench/dask.mjs

# The peers (python-shell, pythonia): the benchmark's own dev dependencies, never the package's.
bench/peers/node_modules/.stamp: bench/peers/package.json bench/peers/package-lock.json
	cd bench/peers && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Would /dev/shm beat the socket for large arrays? 80 MB there and back, raw, both ways (~15 s).
bench-shm: setup
	node --expose-gc bench/shm.mjs

lint:
	$(VENV)/bin/ruff check src tests spec bench js/test/fixtures
	$(VENV)/bin/ruff format --check src tests spec bench js/test/fixtures

typecheck:
	$(VENV)/bin/mypy --strict src

pytest:
	$(PY) -m pytest

PYTEST_DASK := $(sort $(wildcard tests/test_dask*.py tests/test_doctor_dask.py))
pytest-main:
	$(PY) -m pytest $(PYTEST_DASK:%=--ignore=%)

pytest-dask:
	$(PY) -m pytest $(PYTEST_DASK)

# A run that executes no test fails, like pytest's exit status 5.
jstest:
	cd js && node --test test/*.test.js | tee .test-output.log
	grep -q '^# pass [1-9]' js/.test-output.log || { echo "node --test ran no test" >&2; exit 1; }

# Portable mode (issue 21): a representative part of the suite again, over loopback TCP
# (transport: 'tcp'), with the worker's sendall path and the simulated cancel kick, the
# paths of Windows and macOS exercised on Linux (a few minutes). Cases a simulated kick
# cannot satisfy (a sleep) are skipped with the reason.
PORTABLE_TESTS := calls handles streams callbacks lifecycle settle portable
jstest-portable:
	cd js && PYFERRY_TRANSPORT=tcp PYFERRY_PORTABLE=1 PYFERRY_INTERRUPT=simulate \
		node --test $(PORTABLE_TESTS:%=test/%.test.js) | tee .test-portable-output.log
	grep -q '^# pass [1-9]' js/.test-portable-output.log || { echo "node --test ran no test" >&2; exit 1; }

tstest:
	cd js && npx --no-install tsc --noEmit --strict -p test/types

# Long fuzzing of both decoders (a few minutes); `make test` fuzzes them briefly.
# PYFERRY_FUZZ_SEED=<n> replays a JS run; hypothesis keeps Python failures in .hypothesis/.
fuzz: setup
	PYFERRY_FUZZ=long $(PY) -m pytest -q -o faulthandler_timeout=600 tests/test_fuzz.py tests/test_safety.py
	cd js && PYFERRY_FUZZ=long node --test test/fuzz.test.js

clean:
	rm -rf $(VENV) js/node_modules js/dist
