# cib-detect developer commands. Everything runs from a fresh clone:
#   make demo   set up .venv and detect coordinated clusters in the bundled demo data
#   make test   set up .venv with dev tools, start the local Neo4j, lint, type-check, test

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-deps install lint lint-proto typecheck pytest neo4j-start neo4j-stop bench clean proto

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cib-detect detect examples/demo.parquet --out out/demo-clusters.json --top 10

BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf

lint: $(STAMP) lint-proto
	$(BIN)/ruff check cib_detect tests benchmarks proto
	$(BIN)/ruff format --check cib_detect tests benchmarks proto

# buf (from the npm registry) lints the API; the generated code must be fresh.
$(BUF):
	npm install --silent --no-fund --no-audit --prefix .tools @bufbuild/buf@$(BUF_VERSION)

lint-proto: $(STAMP) $(BUF)
	$(BUF) lint
	$(BIN)/python proto/generate.py --check

# Regenerate cib_detect/_proto after editing proto/cib/v1/*.proto.
proto: $(STAMP)
	$(BIN)/python proto/generate.py

typecheck: $(STAMP)
	$(BIN)/mypy

neo4j-start: $(STAMP)
	$(BIN)/cib-detect neo4j start

neo4j-stop: $(STAMP)
	$(BIN)/cib-detect neo4j stop

pytest: $(STAMP)
	$(BIN)/pytest -q

# Debian's Chromium for the report's browser tests (installed when running as root,
# as CI does; elsewhere the browser tests are skipped when it is missing).
test-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: the report's browser tests will be skipped"; fi; }

# The test command (README and .ci/run): installs, starts the local Neo4j, runs
# lint, types and the whole suite, and stops Neo4j again whatever the outcome.
test: $(STAMP) test-deps
	$(MAKE) lint typecheck
	$(BIN)/cib-detect neo4j start
	$(BIN)/pytest -q; status=$$?; $(BIN)/cib-detect neo4j stop; exit $$status

bench: $(STAMP)
	$(BIN)/python benchmarks/sweep.py --results benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
