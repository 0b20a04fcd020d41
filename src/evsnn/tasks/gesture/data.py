"""DVS128 Gesture: raw tree -> manifest -> HDF5 frame caches (one per split).

One sample per row of a ``_labels.csv`` (events with ``start <= t < end``, spikingjelly's convention, so
repeated classes, out-of-order rows and overlapping windows are all kept), the official train/test trial
lists, frames integrated exactly as spikingjelly's ``integrate_events_by_fixed_frames_number``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

import evsnn
from evsnn.data import FrameCacheWriter
from evsnn.errors import DataMissingError, FormatError
from evsnn.events import slice_time
from evsnn.frames import integrate_fixed_frames
from evsnn.io import read_events
from evsnn.manifest import write_manifest
from evsnn.io.dvsgesture import CLASS_NAMES, list_trials, read_labels
from evsnn.util import atomic_path, fresh_dir, params_digest

log = logging.getLogger("evsnn.gesture")

SENSOR = (128, 128)  # DVS128: H, W


def prepare_dvsgesture(name: str, ds_cfg: dict, data_root: str, manifest_out: str) -> dict:
    """Make the raw DvsGesture tree available (generate / download + verify / locate) and write a manifest."""
    source = ds_cfg["source"]
    if source == "synthetic":
        from evsnn.tasks.gesture.synth import write_dvsgesture_tree

        root = fresh_dir(Path(data_root) / "synthetic" / name / "DvsGesture")
        syn = dict(ds_cfg.get("synthetic", {}))
        log.info("writing synthetic DvsGesture tree to %s with %s", root, syn)
        write_dvsgesture_tree(root, **syn)
    elif source == "download":
        from evsnn.datasets import fetch_dvsgesture

        kwargs = {}
        if ds_cfg.get("urls"):
            kwargs["urls"] = ds_cfg["urls"]
        if ds_cfg.get("md5"):
            # a private mirror of another archive (a local cache, a test server): its own trial lists define
            # the expected recordings (checked by list_trials below) instead of the 122 official ones
            kwargs["md5"] = ds_cfg["md5"]
            kwargs["expected_files"] = ["trials_to_train.txt", "trials_to_test.txt"]
        root = Path(fetch_dvsgesture(Path(data_root) / name, **kwargs))
    else:  # local
        root = Path(ds_cfg["path"])
        if (root / "DvsGesture").is_dir():
            root = root / "DvsGesture"
        if not root.is_dir():
            raise DataMissingError(f"datasets.{name}.path = {ds_cfg['path']} does not exist; it must be the folder "
                                   "holding the extracted DvsGesture/ tree (user01_fluorescent.aedat, ..., trials_to_train.txt)")
    if source != "synthetic" and ds_cfg.get("verify_md5"):
        from evsnn.datasets import verify_dvsgesture_tree

        verify_dvsgesture_tree(root, full_md5=True)
    trials = list_trials(root)
    files = {}
    for split, pairs in trials.items():
        for aedat, labels in pairs:
            for f in (aedat, labels):
                files[Path(f).name] = os.path.getsize(f)
    manifest = {
        "dataset": name, "kind": "dvsgesture", "source": source, "root": str(Path(root).resolve()),
        "trials": {split: [Path(a).name for a, _ in pairs] for split, pairs in trials.items()},
        "files": files, "digest": params_digest(files),
    }
    raw = [f for pairs in trials.values() for pair in pairs for f in pair]
    raw += [p for p in (Path(root) / "trials_to_train.txt", Path(root) / "trials_to_test.txt") if p.exists()]
    manifest = write_manifest(manifest_out, manifest, raw)
    log.info("manifest: %d train / %d test trials, %d files", len(trials["train"]), len(trials["test"]), len(files))
    return manifest


def build_gesture_frames(manifest: dict, frames_cfg: dict, out_train: str, out_test: str) -> dict:
    """Write the train and test frame caches for one frames entry of the config."""
    root = Path(manifest["root"])
    T, split_by, k = frames_cfg["T"], frames_cfg["split_by"], frames_cfg["downsample"]
    H, W = SENSOR
    if H % k or W % k:
        raise ValueError(f"frames.downsample={k} must divide the sensor size {H}x{W}")
    shape = (T, 2, H // k, W // k)
    trials = list_trials(root)
    stats = {}
    for split, out in (("train", out_train), ("test", out_test)):
        attrs = {"dataset": manifest["dataset"], "kind": "dvsgesture", "split": split, "T": T, "split_by": split_by,
                 "downsample": k, "H": H // k, "W": W // k, "sensor_h": H, "sensor_w": W, "n_classes": len(CLASS_NAMES),
                 "class_names": ",".join(CLASS_NAMES), "source_digest": manifest["digest"],
                 "evsnn_version": evsnn.__version__, "convention": "spikingjelly integrate_events_by_fixed_frames_number; window [start, end)"}
        n_samples, n_events = 0, 0
        with atomic_path(out, suffix=".h5") as tmp:
            writer = FrameCacheWriter(tmp, shape, attrs)
            try:
                for aedat, labels_csv in tqdm(trials[split], desc=f"frames {split}", mininterval=2.0):
                    # the format comes from the file's content (AEDAT 3.1 in the real dataset; AEDAT 4.0, EVT, ...
                    # read the same way), not from its name
                    events, _ = read_events(aedat)
                    if "c" in events.dtype.names:
                        raise FormatError(aedat, None, "holds events of several cameras; a gesture recording has one")
                    order_ok = events.size < 2 or bool(np.all(np.diff(events["t"]) >= 0))
                    if not order_ok:
                        events = events[np.argsort(events["t"], kind="stable")]
                    for label, start, end in read_labels(labels_csv):
                        ev = slice_time(events, int(start), int(end))
                        frames = integrate_fixed_frames(ev, T, split_by=split_by, H=H, W=W, downsample=k)
                        writer.add(frames, int(label), Path(aedat).name, (int(start), int(end)))
                        n_samples += 1
                        n_events += len(ev)
            finally:
                writer.close()
        stats[split] = {"samples": n_samples, "events": n_events}
        log.info("%s: %d samples, %d events -> %s", split, n_samples, n_events, out)
    return stats
