# Every target sets up .venv first (once: the stamp files make a second call a no-op): the
# project for sweeps and reports; its dev extra (tests, lint, docs) for test, lint and docs.
PY_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SWEEP ?= default
LAUNCHER ?= joblib
SWEEPER ?=
OUT_DIR ?= runs
ARGS ?=
PROBE_ARGS ?=
REPORT_ARGS ?=

.PHONY: setup setup-dev setup-ray setup-optuna sb3-study test test-slow test-cluster check-reproducible lint docs sweep probe report bench bench-physics clean

setup: $(STAMP)

setup-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PY_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0 -e . --config-settings editable_mode=compat
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(DEV_STAMP)

# The Ray launcher and the Optuna sweeper are extras: installed only when a sweep asks for them.
setup-ray: setup
	$(PY) -c "import hydra_plugins.hydra_ray_launcher" 2>/dev/null || $(PY) -m pip install --quiet -e '.[ray]' --config-settings editable_mode=compat

setup-optuna: setup
	$(PY) -c "import hydra_plugins.hydra_optuna_sweeper" 2>/dev/null || $(PY) -m pip install --quiet -e '.[optuna]' --config-settings editable_mode=compat

# SWEEP: a preset in conf/sweep/ (smoke, default, full); LAUNCHER: joblib (one run per
# core), slurm or submitit_slurm, submitit_local, ray (a Ray it starts) or ray_cluster (one
# running already); SWEEPER: empty (the union of the preset's grids) or optuna (a study:
# optuna_example); ARGS: extra Hydra overrides.
sweep: setup $(if $(filter ray ray_cluster,$(LAUNCHER)),setup-ray) $(if $(filter optuna,$(SWEEPER)),setup-optuna)
	$(PY) experiments/run.py -m sweep=$(SWEEP) hydra/launcher=$(LAUNCHER) $(if $(SWEEPER),hydra/sweeper=$(SWEEPER)) out_dir=$(OUT_DIR) $(ARGS)
	$(PY) experiments/probe.py sweep=$(SWEEP) out_dir=$(OUT_DIR)
	$(PY) -m analysis.report out_dir=$(OUT_DIR) sweep=$(SWEEP) $(REPORT_ARGS)

# The one-update probe of a sweep's starting policies (conf/probe/probe.yaml; a sweep
# without warm starts: PROBE_ARGS=select=done). A re-run with the same settings is a no-op.
probe: setup
	$(PY) experiments/probe.py sweep=$(SWEEP) out_dir=$(OUT_DIR) $(PROBE_ARGS)

report: setup
	$(PY) -m analysis.report out_dir=$(OUT_DIR) sweep=$(SWEEP) $(REPORT_ARGS)

# Peers (Stable-Baselines3, sb3-contrib) are a bench extra, never a runtime dependency.
bench: setup
	$(PY) -c "import sb3_contrib" 2>/dev/null || $(PY) -m pip install --quiet -e '.[bench]' --config-settings editable_mode=compat
	$(PY) benchmarks/bench.py $(ARGS)

# Env steps per core as a share of bare MuJoCo: gymnasium, populations of 1, 8 and 32, and
# the default study's runs phase, each beside the code before the batched physics (ARGS:
# --rounds, --tasks, --before REV|none).
bench-physics: setup
	$(PY) benchmarks/physics_rate.py $(ARGS)

# Stable-Baselines3's PPO, code the suite did not write, measured by the exact-KL monitor
# (conf/sb3/study.yaml), then its report, which scores the dose–response of the suite's own
# default study on it when that study's records are in OUT_DIR (REPORT_ARGS: another
# reference, e.g. reference.sweep=tasks). A re-run skips what is done.
sb3-study: setup
	$(PY) -c "import sb3_contrib" 2>/dev/null || $(PY) -m pip install --quiet -e '.[bench]' --config-settings editable_mode=compat
	$(PY) experiments/sb3_study.py out_dir=$(OUT_DIR) $(ARGS)
	$(PY) -m analysis.report out_dir=$(OUT_DIR) sweep=sb3_ppo $(if $(wildcard $(OUT_DIR)/default),reference.out_dir=$(OUT_DIR) reference.sweep=default) $(REPORT_ARGS)

test: setup-dev
	$(PY) -m pytest -q

test-slow: setup-dev
	$(PY) -m pytest -q -m slow

# The cluster path on a real SLURM that the tests start on this machine (tests/single_node_slurm.py;
# root: Debian's slurm-wlm, munge and MariaDB are installed on first use) and on a Ray cluster.
test-cluster: setup-dev setup-ray
	$(PY) -m pytest -q -m cluster

lint: setup-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Check this machine against the committed reference run of reproducible mode (results/reproducible/).
check-reproducible: setup
	$(PY) experiments/check_reproducible.py

# The documentation site (mkdocs-material; its generated pages: docs/gen_pages.py), strict:
# a warning fails the build. Open site/index.html.
docs: setup-dev
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(PY) -m mkdocs build --strict --quiet
	@echo "docs: site/index.html"

clean:
	rm -rf $(VENV) outputs multirun site
