# The whole set-up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= runs/demo

.PHONY: demo test bench gpu-check lint venv clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when the project's requirements change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/advlab demo --out $(OUT)

# One intra-op thread per worker: two workers with two threads each oversubscribe 2 cores.
# The paper-scale path on stand-ins (tests marked slow) runs test by test on both workers (its
# tests are few and long); everything else file by file (module fixtures are shared).
# PAPER_PATH=0 leaves the paper-path tests out (CI's second run, under other kernels: they
# check plumbing, not numerics).
PAPER_PATH ?= 1
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" tests
	if [ "$(PAPER_PATH)" = 1 ]; then OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist load -m slow tests; fi

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]' || $(BIN)/pip install --quiet --no-deps foolbox torchattacks
	$(BIN)/pip install --quiet --no-deps convex-adversarial || true
	$(BIN)/python -m benchmarks.run

# The CUDA paths (attacks, certification, GAN training with autocast, torchrun/NCCL) against
# the CPU, in one table (benchmarks/results/gpu_check.md); without a GPU: the CPU column only.
gpu-check: $(STAMP)
	OMP_NUM_THREADS=$$(nproc) $(BIN)/python -m benchmarks.gpu_check --threads $$(nproc)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/advlab

clean:
	rm -rf $(VENV) runs .pytest_cache
