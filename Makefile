# Every target sets up .venv first (once: the stamp file makes a second call a no-op).
PY_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SWEEP ?= default
LAUNCHER ?= joblib
OUT_DIR ?= runs
ARGS ?=
PROBE_ARGS ?=

.PHONY: setup setup-ray test test-slow lint sweep probe report bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PY_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0 -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

# The Ray launcher is an extra (ray is large): installed only when a sweep asks for it.
setup-ray: setup
	$(PY) -c "import hydra_plugins.hydra_ray_launcher" 2>/dev/null || $(PY) -m pip install --quiet -e '.[ray]' --config-settings editable_mode=compat

# SWEEP: a preset in conf/sweep/ (smoke, default, full); LAUNCHER: joblib (one run per
# core), slurm or submitit_slurm, submitit_local, ray; ARGS: extra Hydra overrides.
sweep: setup $(if $(filter ray,$(LAUNCHER)),setup-ray)
	$(PY) experiments/run.py -m sweep=$(SWEEP) hydra/launcher=$(LAUNCHER) out_dir=$(OUT_DIR) $(ARGS)
	$(PY) experiments/probe.py sweep=$(SWEEP) out_dir=$(OUT_DIR)
	$(PY) -m analysis.report out_dir=$(OUT_DIR) sweep=$(SWEEP)

# The one-update probe of a sweep's starting policies (conf/probe/probe.yaml; a sweep
# without warm starts: PROBE_ARGS=select=done). A re-run with the same settings is a no-op.
probe: setup
	$(PY) experiments/probe.py sweep=$(SWEEP) out_dir=$(OUT_DIR) $(PROBE_ARGS)

report: setup
	$(PY) -m analysis.report out_dir=$(OUT_DIR) sweep=$(SWEEP)

# Peers (Stable-Baselines3, sb3-contrib) are a bench extra, never a runtime dependency.
bench: setup
	$(PY) -c "import sb3_contrib" 2>/dev/null || $(PY) -m pip install --quiet -e '.[bench]' --config-settings editable_mode=compat
	$(PY) benchmarks/bench.py $(ARGS)

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) outputs multirun
