# make demo : set everything up and run the embedded demo workflow (synthetic data, CPU, minutes)
# make test : set everything up and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= 2

.PHONY: setup demo test bench rulegraph clean

setup:
	bash envs/install.sh

demo: setup
	$(SNAKEMAKE) --cores $(CORES)
	@echo "results: results/tables/{gesture,pose}.md, figures in results/eval/*/ (snakemake --report report.html for the HTML report)"

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) benchmarks/run_all.py

rulegraph: setup
	$(SNAKEMAKE) --rulegraph | dot -Tsvg > docs/rulegraph.svg

clean:
	rm -rf results .snakemake
