# judgerl — two commands on a fresh machine: `make demo` and `make test`.
# Only python3, make and gcc are assumed. torch is installed first, pinned to the
# CPU wheel (a bare `torch` requirement would pull a multi-GB CUDA build).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST  := $(BIN)/python -m pytest
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MPLBACKEND := Agg

.PHONY: install demo test test-slow lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/install.sh
	bash scripts/install.sh "$(PY)" "$(VENV)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/judgerl demo

lint: $(STAMP)
	$(BIN)/ruff check judgerl tests benchmarks scripts
	$(BIN)/ruff format --check judgerl tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when no test ran: that is a failure here, never a silent pass.
# Two pytest-xdist workers: the tier is CPU-bound and single-threaded per test (on 2 cores: ~140 s, not ~210 s).
test: lint typecheck
	@$(PYTEST) -q -n 2 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests -- failing" >&2; exit 1; fi; exit $$rc

test-slow: $(STAMP)
	@$(PYTEST) -q -m slow $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-slow: pytest collected no tests -- failing" >&2; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/judges.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
