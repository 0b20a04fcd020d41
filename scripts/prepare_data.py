"""Rule `dataset`: make a dataset's raw tree available and write its manifest."""
from evsnn.gesture_data import prepare_dvsgesture
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
PREPARE = {"dvsgesture": prepare_dvsgesture}
PREPARE[p.cfg["kind"]](p.name, p.cfg, p.data_root, snakemake.output.manifest)  # noqa: F821
