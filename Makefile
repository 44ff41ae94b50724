# Two commands matter: `make demo` and `make test`. Both set everything up from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_OK  := $(VENV)/.installed
JS_OK  := node_modules/.installed

.PHONY: setup demo test check lint server contracts vectors chain-up chain-down clean

setup: $(PY_OK) $(JS_OK)

$(PY_OK): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "laas needs Python 3.11+ (set PYTHON=python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(JS_OK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## demo: start the local chain, ingest the shipped sample, gate it
demo: setup
	$(BIN)/laas run instruct-sample
	$(BIN)/laas gate instruct-sample

## test: lint, then the whole suite against real anvil, Prefect and Dask. Two pytest workers,
## each taking whole modules (their fixtures start a chain and run pipelines once per module);
## a test waits on the chain, the Prefect server and the Dask workers, so two keep both cores
## busy. `laas` runs inside the test process unless the test is about processes
## (tests/cli_runner.py); LAAS_TEST_CLI=subprocess runs every call as a subprocess.
test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 --dist loadfile --durations=25

## check: lint, then the fast tier: the pure core and the services over in-memory fakes
## (tests/fakes.py); no anvil, Prefect, Dask, S3 or subprocess stack. Under two minutes.
check: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not integration"

## server: Prefect server + UI, work pool, worker, deployments and the local chain; Ctrl-C stops all
server: setup
	$(BIN)/laas server

lint: setup
	$(BIN)/ruff check .

## contracts: recompile CheckpointRegistry.json (commit the result)
contracts: $(JS_OK)
	node anchors/contracts/build.mjs

## vectors: regenerate the pinned Merkle vectors with @openzeppelin/merkle-tree
vectors: $(JS_OK)
	node tests/vectors/make_vectors.mjs

chain-up: setup
	$(BIN)/laas chain up

chain-down: setup
	$(BIN)/laas chain down

clean: chain-down
	rm -rf .laas
