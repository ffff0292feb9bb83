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
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile tests

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
