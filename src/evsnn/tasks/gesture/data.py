"""DVS128 Gesture (and a lab's own recordings, kind ``recordings``): raw tree -> manifest -> HDF5 frame caches
(one per split), both kinds through one cache writer (:func:`write_frame_caches`).

One sample per row of a ``_labels.csv`` (events with ``start <= t < end``, spikingjelly's convention, so
repeated classes, out-of-order rows and overlapping windows are all kept), the official train/test trial
lists, frames integrated exactly as spikingjelly's ``integrate_events_by_fixed_frames_number``.
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

import evsnn
from evsnn.data import FrameCacheWriter
from evsnn.errors import DataMissingError
from evsnn.events import slice_time
from evsnn.frames import integrate_fixed_frames
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


def prepare(name: str, ds_cfg: dict, data_root: str, manifest_out: str) -> dict:
    """The task face's ``prepare``: a DvsGesture tree (kind ``dvsgesture``) or a folder of recordings with a labels
    CSV (kind ``recordings``, :mod:`evsnn.tasks.gesture.recordings`)."""
    if ds_cfg["kind"] == "recordings":
        from evsnn.tasks.gesture.recordings import prepare_recordings

        return prepare_recordings(name, ds_cfg, data_root, manifest_out)
    return prepare_dvsgesture(name, ds_cfg, data_root, manifest_out)


def build_frames(manifest: dict, frames_cfg: dict, out_train: str, out_test: str) -> dict:
    """The task face's ``build_frames``: the train and test caches of either dataset kind, one code path
    (:func:`write_frame_caches`)."""
    if manifest["kind"] == "recordings":
        return build_recordings_frames(manifest, frames_cfg, out_train, out_test)
    return build_gesture_frames(manifest, frames_cfg, out_train, out_test)


def _gesture_events(aedat) -> np.ndarray:
    """A DvsGesture recording's events, read like any recording of the ``recordings`` kind: the format from the
    file's content (AEDAT 3.1 in the real dataset; AEDAT 4.0, EVT, ... the same way), one camera, sorted by time."""
    from evsnn.tasks.gesture.recordings import read_recording

    return read_recording(aedat)[0]


def write_frame_caches(outs: dict, frames_cfg: dict, sensor: tuple[int, int], attrs: dict, samples: dict,
                       read=_gesture_events) -> dict:
    """Write one frame cache per split: ``outs`` split -> path, ``samples`` split -> ``[(recording, name,
    segments)]`` with ``segments`` a list of ``(label, start, end)`` (start None: the whole recording) or a
    callable returning it; ``read(recording)`` gives its events sorted by time; ``attrs`` (dataset, kind, n_classes,
    class_names, source_digest, convention) go into each file with the frame parameters."""
    T, split_by, k = frames_cfg["T"], frames_cfg["split_by"], frames_cfg["downsample"]
    H, W = sensor
    if H % k or W % k:
        raise ValueError(f"frames.downsample={k} must divide the sensor size {H}x{W}")
    shape = (T, 2, H // k, W // k)
    stats = {}
    for split, out in outs.items():
        head = {"dataset": attrs["dataset"], "kind": attrs["kind"], "split": split, "T": T, "split_by": split_by,
                "downsample": k, "H": H // k, "W": W // k, "sensor_h": H, "sensor_w": W}
        file_attrs = {**head, **{a: v for a, v in attrs.items() if a not in head}}
        n_samples, n_events = 0, 0
        with atomic_path(out, suffix=".h5") as tmp:
            writer = FrameCacheWriter(tmp, shape, file_attrs)
            try:
                for recording, name, segments in tqdm(samples[split], desc=f"frames {split}", mininterval=2.0):
                    events = read(recording)
                    for label, start, end in (segments() if callable(segments) else segments):
                        if start is None:  # the whole recording
                            start, end = (int(events["t"][0]), int(events["t"][-1]) + 1) if len(events) else (0, 0)
                        ev = slice_time(events, int(start), int(end))
                        frames = integrate_fixed_frames(ev, T, split_by=split_by, H=H, W=W, downsample=k)
                        writer.add(frames, int(label), name, (int(start), int(end)))
                        n_samples += 1
                        n_events += len(ev)
            finally:
                writer.close()
        stats[split] = {"samples": n_samples, "events": n_events}
        log.info("%s: %d samples, %d events -> %s", split, n_samples, n_events, out)
    return stats


def build_gesture_frames(manifest: dict, frames_cfg: dict, out_train: str, out_test: str) -> dict:
    """Write the train and test frame caches of a DvsGesture tree for one frames entry of the config."""
    trials = list_trials(Path(manifest["root"]))
    attrs = {"dataset": manifest["dataset"], "kind": "dvsgesture", "n_classes": len(CLASS_NAMES),
             "class_names": ",".join(CLASS_NAMES), "source_digest": manifest["digest"],
             "evsnn_version": evsnn.__version__,
             "convention": "spikingjelly integrate_events_by_fixed_frames_number; window [start, end)"}
    samples = {split: [(aedat, Path(aedat).name, functools.partial(_label_rows, labels_csv))
                       for aedat, labels_csv in pairs] for split, pairs in trials.items()}
    return write_frame_caches({"train": out_train, "test": out_test}, frames_cfg, SENSOR, attrs, samples)


def _label_rows(labels_csv) -> list[tuple[int, int, int]]:
    return [(int(label), int(start), int(end)) for label, start, end in read_labels(labels_csv)]


def build_recordings_frames(manifest: dict, frames_cfg: dict, out_train: str, out_test: str) -> dict:
    """Write the train and test frame caches of a recordings folder (its manifest holds the checked rows, the
    classes and the sensor size); a recording changed since the manifest is checked again against the sensor."""
    from evsnn.tasks.gesture.recordings import check_sensor, read_recording, recordings_samples

    sensor = tuple(int(v) for v in manifest["sensor"])

    def read(path):
        events, header = read_recording(path)
        check_sensor(path, events, header, sensor, manifest["sensor_from"], manifest["sensor_configured"])
        return events

    attrs = {"dataset": manifest["dataset"], "kind": "recordings", "n_classes": len(manifest["class_names"]),
             "class_names": ",".join(manifest["class_names"]), "source_digest": manifest["digest"],
             "evsnn_version": evsnn.__version__,
             "convention": "spikingjelly integrate_events_by_fixed_frames_number; window [start_us, end_us) of the "
                           "labels file, the whole recording where it gives none"}
    return write_frame_caches({"train": out_train, "test": out_test}, frames_cfg, sensor, attrs,
                              recordings_samples(manifest), read)
