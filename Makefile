# spacetime: two commands for a fresh machine.
#   make demo   -- set up .venv and run the demo on built-in synthetic data (writes demo_out/)
#   make test   -- set up .venv and run the lint + test suite
#   make test-gpu -- the CUDA cases of the suite and the CUDA benchmarks (fails without a GPU)
# All install the pinned set of constraints/ci.txt (Python 3.11, torch 2.14.1, torchvision
# 0.29.1) over the ranges that pyproject.toml declares; docs/install.md covers other versions.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.spacetime-installed
CONSTRAINTS ?= constraints/ci.txt
EXTRAS ?= test,bench,tensorboard
DEMO_OUT ?= demo_out

.PHONY: demo test test-gpu check-cuda lint bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/spacetime demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

check-cuda: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --check-cuda

# every test case of the device matrix on CUDA (-m cuda), then the benchmarks with a --device flag
test-gpu: check-cuda
	$(BIN)/python -m pytest -m cuda --device cuda -q
	$(BIN)/python benchmarks/run_all.py --device cuda

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
