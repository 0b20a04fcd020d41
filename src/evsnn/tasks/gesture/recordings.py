"""A lab's own recordings as a classification dataset: a folder of event files and one labels CSV
(``kind: recordings``, ``source: local``); the gesture task's frames, models, evaluation and table serve it.

The folder::

    <path>/labels.csv            the labels file (another name: datasets.<name>.recordings.labels)
    <path>/<any/sub/folder/>rec  the recordings it names, in any format evsnn.io.read_events reads (detected from the
                                 content, not the name: AEDAT 2.0 / 3.1 / 4.0, Prophesee EVT 2.0 / 3.0 / DAT, ...),
                                 mixed freely, all of one sensor size

The labels file: a CSV with a header row and one row per labelled sample. Columns (any order):

- ``file`` (required): the recording, relative to the folder; several rows may name the same file;
- ``label`` (required): the class name (any text without a comma); classes are the sorted unique labels, or the
  config's ``recordings.classes`` list (its order is the class index order);
- ``split`` (optional): ``train`` or ``test`` on every row. Without it the split is made by whole groups: the
  ``subject`` (or ``user``) column's values when there is one, else the recordings, so that no subject (or
  recording) has samples on both sides; a permutation of the sorted groups seeded by ``recordings.seed`` is walked
  and groups go to test (skipping a group whose move would leave a class without a training sample) until
  ``round(test_fraction x groups)`` (at least 1) are there;
- ``subject`` or ``user`` (optional): who was recorded (grouping only);
- ``start_us``, ``end_us`` (optional, both or neither): the sample is the events with ``start_us <= t < end_us``
  in the recording's own clock (the timestamps ``python -m evsnn events info`` prints); a row with both cells empty
  takes the whole recording.

Every problem is one sentence naming the labels file and the row (line number, the header is line 1): a missing
labels file, an unknown column, a file that does not exist or is not a supported event file, an empty label, a
configured class without rows, a class with test rows only, a segment outside its recording, recordings of two
sensor sizes.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evsnn.errors import DataMissingError, FormatError

log = logging.getLogger("evsnn.gesture.recordings")

KIND = "recordings"
LABELS_FILE = "labels.csv"
REQUIRED = ("file", "label")
OPTIONAL = ("split", "subject", "user", "start_us", "end_us")
COLUMNS = REQUIRED + OPTIONAL
SPLITS = ("train", "test")
DEFAULT_TEST_FRACTION = 0.25
LAYOUT = (f"a folder holding {LABELS_FILE} (a header row with the columns file,label and optionally "
          "split,subject,start_us,end_us; one row per sample) and the recordings it names, relative to the folder")


@dataclass(frozen=True)
class Row:
    """One sample of the labels file: ``line`` (1 = header), the recording relative to the folder, its class
    name, ``split`` (None: chosen by the split rule), ``group`` (subject or recording) and the segment."""

    line: int
    file: str
    label: str
    split: str | None
    group: str
    start: int | None
    end: int | None


def options(ds_cfg: dict) -> dict:
    """The ``recordings`` block of a dataset config with its defaults filled in."""
    opts = dict(ds_cfg.get("recordings") or {})
    opts.setdefault("labels", LABELS_FILE)
    opts.setdefault("classes", None)
    opts.setdefault("test_fraction", DEFAULT_TEST_FRACTION)
    opts.setdefault("seed", 0)
    opts.setdefault("sensor_size", None)
    return opts


def labels_path(ds_cfg: dict) -> Path:
    return Path(ds_cfg["path"]) / options(ds_cfg)["labels"]


def prepare_inputs(ds_cfg: dict) -> list[str]:
    """The files a recordings dataset's manifest is made from (the labels CSV and the recordings it names that
    exist), for the ``dataset`` rule's input: editing the CSV or a recording re-makes the manifest. A missing or
    unreadable CSV gives none here; the ``dataset`` job then says what is wrong."""
    if ds_cfg.get("kind") != KIND or not ds_cfg.get("path"):
        return []
    csv_path = labels_path(ds_cfg)
    if not csv_path.is_file():
        return []
    out = [str(csv_path)]
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            for rec in csv.DictReader(fh, skipinitialspace=True):
                name = (rec.get("file") or "").strip()
                if name and (csv_path.parent / name).is_file():
                    out.append(str(csv_path.parent / name))
    except (OSError, UnicodeDecodeError, csv.Error):
        return out[:1]
    return list(dict.fromkeys(out))


def _int(csv_path, line: int, column: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FormatError(csv_path, None, f"row {line}: {column} is {value!r}, not a whole number of "
                                          "microseconds") from None


def read_labels_csv(csv_path: str | os.PathLike) -> list[Row]:
    """The rows of a labels file (see the module docstring), checked row by row; FormatError naming the file and
    the row otherwise (existence of the recordings is checked by :func:`check_rows`)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataMissingError(f"{csv_path} does not exist; a recordings dataset is {LAYOUT}")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise FormatError(csv_path, None, f"the file is empty; it needs a header row (file,label and "
                                                  f"optionally {','.join(OPTIONAL)}) and one row per sample")
            cols = [c.strip() for c in header]
            for c in cols:
                if c not in COLUMNS:
                    raise FormatError(csv_path, None, f"row 1: unknown column {c!r}; columns: file, label (required), "
                                                      f"{', '.join(OPTIONAL)} (optional)")
            dup = sorted({c for c in cols if cols.count(c) > 1})
            if dup:
                raise FormatError(csv_path, None, f"row 1: column {dup[0]!r} appears twice")
            missing = [c for c in REQUIRED if c not in cols]
            if missing:
                raise FormatError(csv_path, None, f"row 1: the header lacks the required column {missing[0]!r} "
                                                  f"(header: {','.join(cols)}; required: file,label)")
            if "subject" in cols and "user" in cols:
                raise FormatError(csv_path, None, "row 1: has both a subject and a user column; keep one (they mean "
                                                  "the same: who was recorded)")
            if ("start_us" in cols) != ("end_us" in cols):
                raise FormatError(csv_path, None, "row 1: start_us and end_us come together (a segment "
                                                  "[start_us, end_us) of the recording); add the other or remove it")
            group_col = "subject" if "subject" in cols else "user" if "user" in cols else None
            rows = []
            for values in reader:
                line = reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(cols):
                    raise FormatError(csv_path, None, f"row {line}: has {len(values)} fields, the header "
                                                      f"{len(cols)} ({','.join(cols)})")
                rec = {c: v.strip() for c, v in zip(cols, values)}
                if not rec["file"]:
                    raise FormatError(csv_path, None, f"row {line}: the file cell is empty")
                label = rec["label"]
                if not label:
                    raise FormatError(csv_path, None, f"row {line}: the label of {rec['file']} is empty (every "
                                                      "sample needs a class name)")
                if "," in label:
                    raise FormatError(csv_path, None, f"row {line}: the label {label!r} holds a comma, which class "
                                                      "names cannot")
                split = rec.get("split")
                if split is not None and split not in SPLITS:
                    raise FormatError(csv_path, None, f"row {line}: split is {split!r}; allowed values: train, test")
                start = end = None
                if "start_us" in rec and (rec["start_us"] or rec["end_us"]):
                    if not (rec["start_us"] and rec["end_us"]):
                        raise FormatError(csv_path, None, f"row {line}: start_us and end_us are both set or both "
                                                          "empty (empty: the whole recording)")
                    start = _int(csv_path, line, "start_us", rec["start_us"])
                    end = _int(csv_path, line, "end_us", rec["end_us"])
                    if end <= start:
                        raise FormatError(csv_path, None, f"row {line}: the segment [{start}, {end}) us is empty "
                                                          "(end_us must be larger than start_us)")
                group = rec.get(group_col) if group_col else rec["file"]
                if group_col and not group:
                    raise FormatError(csv_path, None, f"row {line}: the {group_col} cell is empty")
                rows.append(Row(line, rec["file"], label, split, group, start, end))
    except UnicodeDecodeError as exc:
        raise FormatError(csv_path, None, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise FormatError(csv_path, None, f"is not a readable CSV file ({exc})") from None
    if not rows:
        raise FormatError(csv_path, None, "has a header but no rows; add one row per labelled sample")
    return rows


def class_names(csv_path, rows: list[Row], classes=None) -> list[str]:
    """The class names in index order: ``classes`` (the config's list) or the sorted unique labels."""
    labels = sorted({r.label for r in rows})
    if not classes:
        if len(labels) < 2:
            raise FormatError(csv_path, None, f"names one class only ({labels[0]!r}); a classifier needs two or more")
        return labels
    classes = [str(c) for c in classes]
    for r in rows:
        if r.label not in classes:
            raise FormatError(csv_path, None, f"row {r.line}: label {r.label!r} is not one of the configured "
                                              f"classes ({', '.join(classes)})")
    for c in classes:
        if c not in labels:
            raise FormatError(csv_path, None, f"class {c!r} of the configured classes has no row (an empty class); "
                                              "label some samples with it or remove it from recordings.classes")
    return classes


def assign_splits(csv_path, rows: list[Row], test_fraction: float, seed: int) -> tuple[list[str], str]:
    """The split of every row and the rule that made it (see the module docstring)."""
    given = [r.split for r in rows]
    if all(s is not None for s in given):
        return given, "split column of the labels file"
    groups = sorted({r.group for r in rows})
    by_file = all(r.group == r.file for r in rows)
    what = "recordings" if by_file else "subjects"
    if len(groups) < 2:
        raise FormatError(csv_path, None, f"has no split column and only one {what[:-1]} ({groups[0]!r}) to split "
                                          f"by; add a split column (train/test) or more {what}")
    want = min(max(1, round(test_fraction * len(groups))), len(groups) - 1)
    train_count: dict[str, int] = {}
    for r in rows:
        train_count[r.label] = train_count.get(r.label, 0) + 1
    test: set[str] = set()
    for g in np.random.default_rng(seed).permutation(np.array(groups, dtype=object)):
        if len(test) == want:
            break
        moved: dict[str, int] = {}
        for r in rows:
            if r.group == g:
                moved[r.label] = moved.get(r.label, 0) + 1
        if all(train_count[c] - n >= 1 for c, n in moved.items()):
            test.add(g)
            for c, n in moved.items():
                train_count[c] -= n
    if not test:
        raise FormatError(csv_path, None, f"has no split column, and no {what[:-1]} can go to the test split without "
                                          "leaving a class without training samples; add a split column (train/test)")
    rule = (f"whole {what} to test: {len(test)} of {len(groups)} ({', '.join(sorted(test))}), seed {seed}, "
            f"test_fraction {test_fraction}")
    return ["test" if r.group in test else "train" for r in rows], rule


def check_splits(csv_path, rows: list[Row], splits: list[str]) -> None:
    """Every class has training samples, and the test split is not empty."""
    train = {r.label for r, s in zip(rows, splits) if s == "train"}
    for r, s in zip(rows, splits):
        if s == "test" and r.label not in train:
            raise FormatError(csv_path, None, f"row {r.line}: class {r.label!r} has test samples but no training "
                                              "sample; label some of its samples train or remove its test rows")
    if "test" not in splits:
        raise FormatError(csv_path, None, "puts every row in the train split; mark some rows split=test")
    if "train" not in splits:
        raise FormatError(csv_path, None, "puts every row in the test split; mark some rows split=train")


def known_resolution(header: dict) -> tuple[int, int] | None:
    """(width, height) a recording's header states, or None where the reader inferred it from the events (AEDAT
    3.1 from an unknown source)."""
    if str(header.get("format_name", "")).startswith("AEDAT 3"):
        from evsnn.io.aedat3 import sensor_resolution

        if not any(sensor_resolution(s.get("description", "")) for s in header.get("sources", [])):
            return None
    res = header.get("resolution")
    return (int(res[0]), int(res[1])) if res is not None else None


def read_recording(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """A recording's events sorted by time (one camera; a single-camera ``c`` field is dropped) and header."""
    from evsnn.events import EVENT_DTYPE
    from evsnn.io import read_events

    events, header = read_events(path)
    if "c" in (events.dtype.names or ()):
        if len(events) and np.any(events["c"] != events["c"][0]):
            raise FormatError(path, None, "holds events of several cameras; a recording of this dataset has one")
        plain = np.empty(len(events), EVENT_DTYPE)
        for f in EVENT_DTYPE.names:
            plain[f] = events[f]
        events = plain
    if len(events) > 1 and np.any(np.diff(events["t"]) < 0):
        events = events[np.argsort(events["t"], kind="stable")]
    return events, header


def check_sensor(path, events: np.ndarray, header: dict, sensor: tuple[int, int], reference: str,
                 configured: bool) -> None:
    """A recording fits the dataset's sensor ``(H, W)``: its stated resolution (unless the size is configured)
    and its events."""
    H, W = sensor
    res = known_resolution(header)
    if not configured and res is not None and res != (W, H):
        raise FormatError(path, None, f"is a {res[0]}x{res[1]} (width x height) recording but {reference} is "
                                      f"{W}x{H}; the recordings of one dataset must have one sensor size (or set "
                                      "recordings.sensor_size: [height, width])")
    if len(events) and (int(events["x"].max()) >= W or int(events["y"].max()) >= H):
        raise FormatError(path, None, f"has events at x up to {int(events['x'].max())}, y up to "
                                      f"{int(events['y'].max())}, outside the dataset's {W}x{H} (width x height) "
                                      f"sensor ({'recordings.sensor_size' if configured else reference})")


def prepare_recordings(name: str, ds_cfg: dict, data_root: str, manifest_out: str) -> dict:
    """Check a recordings folder (labels, splits, every recording read once: format, sensor size, segments) and
    write its manifest; the raw files it lists are the labels CSV and the recordings."""
    from evsnn.manifest import write_manifest
    from evsnn.util import params_digest

    del data_root  # a local folder: nothing is generated or downloaded
    opts = options(ds_cfg)
    root = Path(ds_cfg["path"])
    if not root.is_dir():
        raise DataMissingError(f"datasets.{name}.path = {ds_cfg['path']} is not a folder; a recordings dataset is "
                               f"{LAYOUT}")
    csv_path = root / opts["labels"]
    if not csv_path.is_file():
        raise DataMissingError(f"{csv_path} does not exist; a recordings dataset (datasets.{name}) is "
                               f"{LAYOUT.replace(LABELS_FILE, opts['labels'])}")
    rows = read_labels_csv(csv_path)
    names = class_names(csv_path, rows, opts["classes"])
    splits, rule = assign_splits(csv_path, rows, float(opts["test_fraction"]), int(opts["seed"]))
    check_splits(csv_path, rows, splits)
    for r in rows:
        if not (root / r.file).is_file():
            what = "a folder, not a recording" if (root / r.file).is_dir() else "does not exist"
            raise DataMissingError(f"{csv_path} row {r.line}: {root / r.file} {what} (file is relative to {root})")

    configured = opts["sensor_size"] is not None
    sensor = tuple(int(v) for v in opts["sensor_size"]) if configured else None
    reference = "recordings.sensor_size"
    recordings: dict[str, dict] = {}
    by_file: dict[str, list[Row]] = {}
    for r in rows:
        by_file.setdefault(r.file, []).append(r)
    pending = []  # recordings read before the first one that states its size
    for rel, file_rows in by_file.items():
        path = root / rel
        try:
            events, header = read_recording(path)
        except FormatError as exc:
            raise FormatError(csv_path, None, f"row {file_rows[0].line}: {exc}") from None
        res = known_resolution(header)
        if sensor is None and res is not None:
            sensor, reference = (res[1], res[0]), f"{rel} (row {file_rows[0].line})"
        if sensor is None:
            pending.append((path, events, header))
        else:
            for p in pending + [(path, events, header)]:
                check_sensor(*p, sensor, reference, configured)
            pending = []
        if not len(events):
            raise FormatError(csv_path, None, f"row {file_rows[0].line}: {path} holds no events")
        t0, t1 = int(events["t"][0]), int(events["t"][-1])
        for r in file_rows:
            if r.start is not None and (r.end <= t0 or r.start > t1):
                raise FormatError(csv_path, None, f"row {r.line}: the segment [{r.start}, {r.end}) us lies outside "
                                                  f"{rel}, whose events span [{t0}, {t1}] us")
        recordings[rel] = {"format": header.get("format_name"), "resolution": list(res) if res else None,
                           "events": int(len(events)), "t_first_us": t0, "t_last_us": t1,
                           "bytes": os.path.getsize(path)}
        del events
    if sensor is None:
        raise FormatError(csv_path, None, "names recordings none of which states its sensor size (AEDAT 3.1 from an "
                                          "unknown source); set recordings.sensor_size: [height, width]")
    index = {c: i for i, c in enumerate(names)}
    samples = [{"line": r.line, "file": r.file, "label": index[r.label], "split": s, "start_us": r.start,
                "end_us": r.end} for r, s in zip(rows, splits)]
    files = {rel: rec["bytes"] for rel, rec in recordings.items()}
    files[opts["labels"]] = os.path.getsize(csv_path)
    manifest = {
        "dataset": name, "kind": KIND, "source": ds_cfg["source"], "root": str(root.resolve()),
        "labels_csv": opts["labels"], "class_names": names, "sensor": list(sensor), "sensor_from": reference,
        "sensor_configured": configured, "split_rule": rule, "samples": samples, "recordings": recordings,
        "files": files, "digest": params_digest({"files": files, "samples": samples, "classes": names}),
    }
    manifest = write_manifest(manifest_out, manifest, [csv_path, *(root / rel for rel in recordings)])
    n_test = sum(s == "test" for s in splits)
    log.info("manifest: %d recordings, %d samples (%d train / %d test), %d classes, sensor %dx%d (HxW); split: %s",
             len(recordings), len(rows), len(rows) - n_test, n_test, len(names), sensor[0], sensor[1], rule)
    return manifest


def recordings_samples(manifest: dict) -> dict[str, list[tuple[Path, str, list]]]:
    """Per split, the recordings in labels-file order with their segments ``(label, start, end)`` (None: the
    whole recording), for :func:`evsnn.tasks.gesture.data.write_frame_caches`."""
    root = Path(manifest["root"])
    out: dict[str, dict[str, list]] = {s: {} for s in SPLITS}
    for s in manifest["samples"]:
        out[s["split"]].setdefault(s["file"], []).append((s["label"], s["start_us"], s["end_us"]))
    return {split: [(root / rel, rel, segs) for rel, segs in files.items()] for split, files in out.items()}


def write_example(root: str | os.PathLike, *, formats=("aedat3", "aedat4", "evt3"), per_class: int = 6,
                  classes=("left", "right", "top"), size=(128, 128), duration_us: int = 200_000,
                  events_per_sample: int = 1500, segments: bool = True, seed: int = 0) -> Path:
    """Write a small learnable recordings folder (the layout of the module docstring): ``per_class`` samples of each
    class, the class being where the events are (``left`` / ``right`` half, ``top`` quarter ...), spread over
    recordings in ``formats`` (round robin; ``aedat2`` / ``aedat3`` evsnn's writers at 128 x 128 only, ``aedat4``,
    ``evt2``, ``evt3``, ``dat`` faery's). With ``segments`` each recording holds two samples, cut by start_us /
    end_us; the labels file has a subject column (one per recording) and no split column. Returns ``root``."""
    from evsnn.events import make_events

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    H, W = size
    regions = {"left": (0, H, 0, W // 2), "right": (0, H, W // 2, W), "top": (0, H // 4, 0, W),
               "bottom": (3 * H // 4, H, 0, W)}
    rng = np.random.default_rng(seed)
    samples = [c for _ in range(per_class) for c in classes]
    per_file = 2 if segments else 1
    rows, k = [], 0
    for i in range(0, len(samples), per_file):
        fmt = formats[k % len(formats)]
        chunk = samples[i:i + per_file]
        parts, segs = [], []
        for j, c in enumerate(chunk):
            y0, y1, x0, x1 = regions[c]
            n = events_per_sample
            t0 = j * duration_us
            t = t0 + np.sort(rng.integers(0, duration_us, n))
            noise = rng.random(n) < 0.1
            x = np.where(noise, rng.integers(0, W, n), rng.integers(x0, x1, n))
            y = np.where(noise, rng.integers(0, H, n), rng.integers(y0, y1, n))
            parts.append(make_events(x, y, t, rng.integers(0, 2, n)))
            segs.append((c, t0, t0 + duration_us))
        ev = np.concatenate(parts)
        ext = {"aedat2": "aedat", "aedat3": "aedat", "aedat4": "aedat4", "evt2": "raw", "evt3": "raw",
               "dat": "dat"}[fmt]
        rel = f"{fmt}/rec{k:03d}.{ext}"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt in ("aedat2", "aedat3") and (H, W) != (128, 128):
            raise ValueError(f"write_example: {fmt} is written as a DVS128 recording (128 x 128), not {H} x {W}")
        if fmt == "aedat2":
            from evsnn.io.aedat2 import write_aedat2

            write_aedat2(path, ev)
        elif fmt == "aedat3":
            from evsnn.io.aedat3 import write_aedat3

            write_aedat3(path, ev)
        elif fmt == "aedat4":
            from evsnn.io.aedat4 import write_aedat4

            write_aedat4(path, ev, (W, H))
        elif fmt in ("evt2", "evt3"):
            from evsnn.io.prophesee import write_evt

            write_evt(path, ev, (W, H), version=fmt)
        else:
            from evsnn.io.prophesee import write_dat

            write_dat(path, ev, (W, H))
        for c, s, e in segs:
            rows.append((rel, c, f"person{k:02d}", s if segments else "", e if segments else ""))
        k += 1
    with open(root / LABELS_FILE, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "subject", "start_us", "end_us"])
        w.writerows(rows)
    return root
