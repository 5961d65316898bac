# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates/refreshes .venv idempotently (a stamp file records the installed state).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed-stamp
CLI    := $(VENV)/bin/hematoma-expansion
OUT    ?= demo-output

.PHONY: venv demo test bench bench-seg bench-thin bench-generalisation bench-batch bench-compare bench-compare-real train-seg train-model clean

venv: $(STAMP)

# Order matters: torch==2.13.0 first (the local CPU wheel, never the CUDA build);
# pyradiomics builds from source and needs numpy/setuptools/wheel/versioneer present;
# slicer-core pins vtk exactly, so it is installed together with that pin.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "torch==2.13.0"
	$(PIP) install numpy setuptools wheel versioneer
	$(PIP) install --no-build-isolation "pyradiomics==3.0.1"
	$(PIP) install "slicer-core==5.13.31053.0" "vtk==9.6.2"
	$(PIP) install --no-build-isolation -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(CLI) demo --output-dir $(OUT)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) scripts/bench_pipeline.py
	$(PY) scripts/bench_thin_slices.py

bench-seg: $(STAMP)
	$(PY) scripts/bench_segmentation.py

bench-thin: $(STAMP)
	$(PY) scripts/bench_thin_slices.py

bench-generalisation: $(STAMP)
	$(PY) scripts/bench_generalisation.py

bench-batch: $(STAMP)
	$(PY) scripts/bench_batch.py

bench-compare: $(STAMP)
	$(PY) scripts/bench_compare.py

# baseline vs follow-up on the real head (needs the shared data): in-plane moved copies (what a rescan
# of a thick-slice scan can look like), then the 3D re-gridding stress test, then generated pairs
bench-compare-real: $(STAMP)
	$(PY) scripts/bench_compare.py --real --method net --real-motion in-plane --real-repeats 5
	$(PY) scripts/bench_compare.py --real --method net --real-motion 3d
	$(PY) scripts/bench_compare.py --engine --pairs 30 --method net

# Rebuild the bundled models (need the shared data folder; CPU, tens of minutes each).
# Segmentation, three stages (see models/segmentation/MODEL_CARD.md): stage 1 from scratch on simulated
# cases; stage 2 (the 1.1.0 recipe) fine-tunes with the low-density blood augmentation and real negatives
# from mistie_0034's slices 7-23; stage 3 (the bundled 1.2.0) fine-tunes on a fresh cache of cases with
# domain randomisation (simulation/domain.py) and no real negatives, so mistie_0034 is a held-out head
# for `make bench-generalisation`.
SHARED ?= $(or $(HEMEXP_SHARED_DATA),../shared/data)
train-seg: $(STAMP)
	$(CLI) train-seg --cases 400 --workers 2 --steps 2000 --seed 0 --output work-data/seg_stage1.pt
	$(CLI) train-seg --skip-cache --init work-data/seg_stage1.pt --seed 1 --lr 1e-3 --threads 2 --steps 6000 \
		--low-density-aug --real-negatives $(SHARED)/realct/mistie_0034.nii.gz:7-24 --output work-data/seg_stage2.pt
	$(CLI) train-seg --cache-dir work-data/segcache/dr --cases 360 --workers 2 --init work-data/seg_stage2.pt --seed 2 \
		--lr 1e-3 --threads 2 --steps 3500 --low-density-aug --install --model-version 1.2.0 --blood-threshold 0.4 \
		--brain-calibration-hu 18 28

train-model: $(STAMP)
	PYTHON=$(PY) scripts/build_expansion_model.sh

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
