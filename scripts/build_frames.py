"""Rule `frames`: integrate events into frame caches (one HDF5 file per split)."""
import json

from evsnn.gesture_data import build_gesture_frames
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
manifest = json.loads(open(snakemake.input.manifest).read())  # noqa: F821
BUILD = {"dvsgesture": build_gesture_frames}
BUILD[manifest["kind"]](manifest, snakemake.params.frames, snakemake.output.train, snakemake.output.test)  # noqa: F821
