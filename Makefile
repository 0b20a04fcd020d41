# make demo : set everything up and run the embedded demo workflow (synthetic data, CPU, minutes)
# make test : set everything up and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= 2

.PHONY: setup demo test bench gpu-check rulegraph clean

setup:
	bash envs/install.sh

demo: setup
	$(SNAKEMAKE) --cores $(CORES)
	@echo "results: results/tables/{gesture,pose,depth}.md (+ _runs.csv per seed), figures in results/eval/*/; report: snakemake --report report.html (opens on the results summary)"

test: setup
	$(PY) -m pytest -q tests

# the anchors the benchmarks compare against (tonic, evlib, aedat, expelliarmus) come from their own requirements
# file, constrained by the runtime pins, never added to them
bench: setup
	$(PY) -m pip --disable-pip-version-check -q install -c envs/constraints.txt -r envs/requirements-bench.txt
	$(PY) benchmarks/run_all.py

# on a GPU machine: training speed per spikingjelly kernel choice beside a plain spikingjelly loop, then the demo's
# gesture model trained through the workflow with device: cuda (a few minutes in all)
gpu-check: setup
	$(PY) -c "import torch, sys; ok = torch.cuda.is_available(); print('CUDA:', ok, torch.version.cuda, torch.cuda.get_device_name(0) if ok else ''); sys.exit(0 if ok else 3)"
	$(PY) benchmarks/bench_gpu_training.py --device cuda
	$(SNAKEMAKE) --cores $(CORES) --configfile configs/gpu_check.yaml
	$(PY) -c "import json; s = json.load(open('results/gpu_check/models/gesture_plif_cuda/summary.json')); m = json.load(open('results/gpu_check/eval/gesture_plif_cuda/metrics.json')); assert s['device'].startswith('cuda'), s['device']; print('gpu-check: trained on', s['device'], 'amp', s['amp'], '- test accuracy', round(100 * m['accuracy'], 1), '%')"

# graphviz's dot is checked first and the SVG is written under a temporary name: a missing dot or a failing
# snakemake leaves docs/rulegraph.svg as it was
rulegraph: setup
	@command -v dot >/dev/null 2>&1 || { echo "make rulegraph: graphviz's 'dot' is not installed (apt-get install graphviz or conda install graphviz); docs/rulegraph.svg left unchanged" >&2; exit 1; }
	$(SNAKEMAKE) --rulegraph > docs/.rulegraph.dot.tmp && dot -Tsvg docs/.rulegraph.dot.tmp > docs/.rulegraph.svg.tmp \
		&& mv docs/.rulegraph.svg.tmp docs/rulegraph.svg; status=$$?; rm -f docs/.rulegraph.dot.tmp docs/.rulegraph.svg.tmp; exit $$status

clean:
	rm -rf results .snakemake
