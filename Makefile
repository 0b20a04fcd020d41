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

# graphviz's dot is checked first and the SVG is written under a temporary name: a missing dot or a failing
# snakemake leaves docs/rulegraph.svg as it was
rulegraph: setup
	@command -v dot >/dev/null 2>&1 || { echo "make rulegraph: graphviz's 'dot' is not installed (apt-get install graphviz or conda install graphviz); docs/rulegraph.svg left unchanged" >&2; exit 1; }
	$(SNAKEMAKE) --rulegraph > docs/.rulegraph.dot.tmp && dot -Tsvg docs/.rulegraph.dot.tmp > docs/.rulegraph.svg.tmp \
		&& mv docs/.rulegraph.svg.tmp docs/rulegraph.svg; status=$$?; rm -f docs/.rulegraph.dot.tmp docs/.rulegraph.svg.tmp; exit $$status

clean:
	rm -rf results .snakemake
