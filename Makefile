# acthash: `make demo` runs the main job, `make test` the tests; both install into .venv first if needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= local
EXPERIMENTS ?= demo
SNAKEMAKE_ARGS ?=
CONFIG ?=
# `make test` runs the test files on this many pytest-xdist workers (tests/conftest.py says how they share the cores)
TEST_WORKERS ?= 3
# torch==X torchvision==Y: the upper bounds of pyproject.toml's dependencies, the one place they are stated
TORCH_PINS := $(shell sed -n 's/^ *"\(torch[a-z]*\)>=[0-9.]*,<=\([0-9.]*\)",$$/\1==\2/p' pyproject.toml)
# Local runs point SLURM's clients at an empty config: where a SLURM client is installed but no controller answers
# (e.g. after `make test` stopped its cluster), the SLURM executor plugin's import-time `scontrol show config`
# would otherwise wait about 10 s in every Snakemake process. SLURM runs (PROFILE=slurm) keep the site's config.
RUN_ENV = PATH=$(abspath $(BIN)):$$PATH $(if $(filter local,$(PROFILE)),SLURM_CONF=/dev/null)

.PHONY: install demo report test test-fast bench estimate lint reproduce clean-results

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# torch and torchvision first, at the newest releases pyproject.toml allows (local wheels on our CI)
	$(BIN)/pip install $(TORCH_PINS)
	$(BIN)/pip install -e '.[workflow,test,notebook]'
	touch $(STAMP)

install: $(STAMP)

# CONFIG: more config overrides (key=value ...), SNAKEMAKE_ARGS: other snakemake options (also for report)
demo: $(STAMP)
	$(RUN_ENV) $(BIN)/snakemake --workflow-profile profiles/$(PROFILE) $(SNAKEMAKE_ARGS) \
	  --config experiments=$(EXPERIMENTS) $(CONFIG)

# runs what is missing of each picked experiment, then writes its Snakemake report to results/<exp>/report.html
report: $(STAMP)
	@for exp in $$(echo "$(EXPERIMENTS)" | tr ',' ' '); do \
	  $(RUN_ENV) $(BIN)/snakemake --workflow-profile profiles/$(PROFILE) $(SNAKEMAKE_ARGS) \
	    --config experiments=$$exp $(CONFIG) && \
	  $(RUN_ENV) $(BIN)/snakemake --workflow-profile profiles/$(PROFILE) $(SNAKEMAKE_ARGS) \
	    --config experiments=$$exp $(CONFIG) --report results/$$exp/report.html || exit 1; \
	  echo "report: results/$$exp/report.html"; done

test: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "make test: the SLURM tests start a local one-node cluster (tests/slurm/cluster.sh)"; \
	else echo "make test: the SLURM tests will be SKIPPED: they need root and apt-get to start a local cluster"; fi
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m "not slow and not slurm" -q

bench: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python benchmarks/run_all.py

# reruns every committed dataset of docs/evidence.yaml (estimates first; resumable), copies them into docs/,
# rewrites the generated tables and redraws the committed figures: hours on a CPU
reproduce: $(STAMP)
	$(RUN_ENV) $(BIN)/acthash evidence reproduce

estimate: $(STAMP)
	$(BIN)/acthash estimate $(EXPERIMENTS)

lint: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint && $(BIN)/snakefmt --check workflow
