# nlx: the ways in. `make test` and `make reproduce` create .venv themselves when it is missing.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PRESET  ?= mini
RESULTS ?= results
JOBS    ?= 2
SEEDS   ?=
DATA    ?=
MINI    ?= data/mini

ifeq ($(PRESET),mini)
  DATA_ROOT := $(MINI)
else
  DATA_ROOT := $(DATA)
endif
SWEEP_ARGS := --preset $(PRESET) --results $(RESULTS) --jobs $(JOBS) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(DATA_ROOT),-o data.root=$(DATA_ROOT))

.PHONY: install test test-fast lint data reproduce report plan bench clean help

help:
	@echo "make test        create .venv if needed and run the test suite (what CI runs)"
	@echo "make reproduce   create .venv, generate the mini benchmark, run Tables 2a-2g, write results/REPORT.md"
	@echo "                 (PRESET=paper DATA=/path/to/kinetics for the full-scale pipeline)"
	@echo "make lint        ruff + mypy"
	@echo "make plan        list the runs of every table without starting any"
	@echo "make bench       the CPU benchmarks of docs/benchmarks.md"

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check nlx tests benchmarks
	$(BIN)/ruff format --check nlx tests benchmarks
	$(BIN)/mypy nlx

$(MINI)/.complete: | install
	$(BIN)/nlx data synth $(MINI) --preset mini --seed 0

# The mini preset's "ImageNet": one 2D network per depth, pretrained on single frames (in parallel, 1 thread each).
$(MINI)/pretrained/.complete: $(MINI)/.complete
	OMP_NUM_THREADS=1 $(BIN)/nlx data pretrain $(MINI) --preset mini --depths 50 & p50=$$!; \
	OMP_NUM_THREADS=1 $(BIN)/nlx data pretrain $(MINI) --preset mini --depths 101 & p101=$$!; \
	wait $$p50 && wait $$p101 && touch $@

data: $(if $(filter mini,$(PRESET)),$(MINI)/.complete $(MINI)/pretrained/.complete)

reproduce: install data
	$(BIN)/nlx sweep ablations/table2a.yaml ablations/table2b.yaml ablations/table2c.yaml ablations/table2d.yaml \
	    ablations/table2e.yaml ablations/table2f.yaml ablations/table2g.yaml $(SWEEP_ARGS)
	$(BIN)/nlx report $(RESULTS) --out $(RESULTS) --to md,tex,html

report: install
	$(BIN)/nlx report $(RESULTS) --out $(RESULTS) --to md,tex,html

plan: install
	$(BIN)/nlx plan ablations/table2*.yaml --preset $(PRESET)

bench: install
	$(BIN)/nlx bench nonlocal --device cpu
	$(BIN)/nlx bench train --model c2d_r50 --device cpu

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
