"""Rule `frames`: raw recordings -> frame caches (one HDF5 file per split)."""
import importlib
import json

from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
manifest = json.loads(open(snakemake.input.manifest).read())  # noqa: F821
BUILD = {"dvsgesture": ("evsnn.gesture_data", "build_gesture_frames"), "dhp19": ("evsnn.pose_data", "build_pose_frames"),
         "mvsec": ("evsnn.depth_data", "build_depth_frames")}
module, func = BUILD[manifest["kind"]]
getattr(importlib.import_module(module), func)(manifest, snakemake.params.frames, snakemake.output.train,  # noqa: F821
                                               snakemake.output.test)  # noqa: F821
