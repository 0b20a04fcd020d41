"""Rule `dataset`: make a dataset's raw tree available and write its manifest."""
import importlib

from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
PREPARE = {"dvsgesture": ("evsnn.gesture_data", "prepare_dvsgesture"), "dhp19": ("evsnn.pose_data", "prepare_dhp19"),
           "mvsec": ("evsnn.depth_data", "prepare_mvsec")}
module, func = PREPARE[p.cfg["kind"]]
getattr(importlib.import_module(module), func)(p.name, p.cfg, p.data_root, snakemake.output.manifest)  # noqa: F821
