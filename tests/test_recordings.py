"""A lab's own recordings (dataset kind ``recordings``): a folder of event files in several formats and a labels CSV,
its errors (one sentence naming the labels file and the row), the split rule, and the gesture pipeline run on it
through the real Snakefile (frames, a small PLIF network, evaluation, table) with the staleness of an edited CSV."""
import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _workflow_helpers import ROOT, copy_project, planned_jobs, smk

from evsnn.config import validate_config
from evsnn.errors import ConfigError, DataMissingError, FormatError
from evsnn.events import make_events
from evsnn.io import supported_formats
from evsnn.io.prophesee import write_evt
from evsnn.tasks.gesture.recordings import assign_splits, prepare_recordings, read_labels_csv, write_example

FORMATS = ("aedat2", "aedat4", "evt3")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """Six recordings (AEDAT 2.0, AEDAT 4.0, EVT 3.0), two labelled segments each, three classes."""
    return write_example(tmp_path_factory.mktemp("rec") / "lab", formats=FORMATS, per_class=4,
                         events_per_sample=300)


@pytest.fixture
def lab(example, tmp_path):
    return Path(shutil.copytree(example, tmp_path / "lab"))


def _rows(lab):
    with open(lab / "labels.csv", newline="") as fh:
        return list(csv.reader(fh))


def _write(lab, rows):
    with open(lab / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def _prepare(lab, tmp_path, **opts):
    cfg = {"kind": "recordings", "source": "local", "path": str(lab), **({"recordings": opts} if opts else {})}
    return prepare_recordings("lab", cfg, str(tmp_path / "resources"), str(tmp_path / "manifest.json"))


def test_a_folder_of_three_formats_makes_a_manifest_with_classes_splits_and_every_raw_file(lab, tmp_path):
    m = _prepare(lab, tmp_path)
    assert m["class_names"] == ["left", "right", "top"] and m["sensor"] == [128, 128]
    formats = {r["format"] for r in m["recordings"].values()}
    assert formats == {"AEDAT 2.0", "AEDAT 4.0", "Prophesee EVT 2.0/3.0"}, formats
    assert len(m["samples"]) == 12 and {s["split"] for s in m["samples"]} == {"train", "test"}
    # the labels CSV and every recording are raw files (the frames' staleness signature)
    assert sorted(Path(f).name for f in m["raw_files"]) == sorted(["labels.csv"] + [f"rec{k:03d}.{e}" for k, e in
                                                                  zip(range(6), ["aedat", "aedat4", "raw"] * 2)])
    # the configured class order is kept
    m = _prepare(lab, tmp_path, classes=["top", "left", "right"])
    assert m["class_names"] == ["top", "left", "right"]
    first = m["samples"][0]
    assert first["file"] == "aedat2/rec000.aedat" and first["label"] == 1 and first["start_us"] == 0


def test_without_a_split_column_whole_subjects_go_to_test_deterministically(lab):
    rows = read_labels_csv(lab / "labels.csv")
    a, rule = assign_splits(lab / "labels.csv", rows, 0.34, 0)
    assert a == assign_splits(lab / "labels.csv", rows, 0.34, 0)[0] and "whole subjects" in rule
    by_subject = {}
    for r, s in zip(rows, a):
        by_subject.setdefault(r.group, set()).add(s)
    assert all(len(s) == 1 for s in by_subject.values())          # no subject on both sides
    assert sum(s == {"test"} for s in by_subject.values()) == 2     # round(0.34 * 6) subjects
    train = {r.label for r, s in zip(rows, a) if s == "train"}
    assert train == {"left", "right", "top"}
    assert any(assign_splits(lab / "labels.csv", rows, 0.34, seed)[0] != a for seed in range(1, 6))


def test_a_split_column_is_used_as_given(lab, tmp_path):
    rows = _rows(lab)
    _write(lab, [rows[0] + ["split"]] + [r + ["test" if i % 4 == 3 else "train"] for i, r in enumerate(rows[1:])])
    m = _prepare(lab, tmp_path)
    assert [s["split"] for s in m["samples"]] == ["test" if i % 4 == 3 else "train" for i in range(12)]
    assert m["split_rule"] == "split column of the labels file"


def test_missing_labels_csv_names_the_file_and_the_layout(lab, tmp_path):
    (lab / "labels.csv").unlink()
    with pytest.raises(DataMissingError, match=r"labels\.csv does not exist; a recordings dataset .* holding "
                                               r"labels\.csv \(a header row with the columns file,label"):
        _prepare(lab, tmp_path)


def test_a_row_whose_file_does_not_exist_names_the_row(lab, tmp_path):
    rows = _rows(lab)
    rows[3][0] = "aedat4/missing.aedat4"
    _write(lab, rows)
    with pytest.raises(DataMissingError, match=r"labels\.csv row 4: .*aedat4/missing\.aedat4 does not exist"):
        _prepare(lab, tmp_path)


def test_an_unknown_column_names_it_and_the_allowed_ones(lab, tmp_path):
    rows = _rows(lab)
    rows[0][1] = "lable"
    _write(lab, rows)
    with pytest.raises(FormatError, match=r"labels\.csv: row 1: unknown column 'lable'; columns: file, label "
                                          r"\(required\), split, subject"):
        _prepare(lab, tmp_path)


def test_an_empty_class_names_the_row_or_the_class(lab, tmp_path):
    rows = _rows(lab)
    rows[5][1] = ""
    _write(lab, rows)
    with pytest.raises(FormatError, match=r"labels\.csv: row 6: the label of .* is empty"):
        _prepare(lab, tmp_path)
    rows[5][1] = "left"
    _write(lab, rows)
    with pytest.raises(FormatError, match=r"class 'bottom' of the configured classes has no row \(an empty class\)"):
        _prepare(lab, tmp_path, classes=["left", "right", "top", "bottom"])
    with pytest.raises(FormatError, match=r"row 2: label 'left' is not one of the configured classes"):
        _prepare(lab, tmp_path, classes=["right", "top"])


def test_a_segment_outside_its_recording_names_the_row_and_the_span(lab, tmp_path):
    rows = _rows(lab)
    rows[2][3:5] = ["5000000", "5200000"]
    _write(lab, rows)
    with pytest.raises(FormatError, match=r"labels\.csv: row 3: the segment \[5000000, 5200000\) us lies outside "
                                          r"aedat2/rec000\.aedat, whose events span \[\d+, \d+\] us"):
        _prepare(lab, tmp_path)


def test_a_class_only_in_test_names_its_first_test_row(lab, tmp_path):
    rows = _rows(lab)
    split = ["test" if r[1] == "top" or i % 5 == 0 else "train" for i, r in enumerate(rows[1:])]
    _write(lab, [rows[0] + ["split"]] + [r + [s] for r, s in zip(rows[1:], split)])
    first_top = 2 + [r[1] for r in rows[1:]].index("top")
    with pytest.raises(FormatError, match=rf"row {first_top}: class 'top' has test samples but no training sample"):
        _prepare(lab, tmp_path)


def test_an_unsupported_format_names_the_row_and_the_supported_formats(lab, tmp_path):
    (lab / "notes.bin").write_bytes(b"PK\x03\x04 a zip file, not events" * 10)
    rows = _rows(lab)
    rows[7][0] = "notes.bin"
    _write(lab, rows)
    with pytest.raises(FormatError, match=r"labels\.csv: row 8: .*notes\.bin at byte offset 0: not a supported event "
                                          r"file \(supported: ") as err:
        _prepare(lab, tmp_path)
    # every format the reader knows is listed (in sniffing order, which puts MVSEC HDF5 first once evsnn.io.mvsec
    # has been imported)
    listed = str(err.value).split("(supported: ", 1)[1].split(")", 1)[0].split(", ")
    assert sorted(listed) == sorted(supported_formats()) and "MVSEC HDF5" in listed and "AEDAT 4.0" in listed


def test_two_sensor_sizes_name_both_files_unless_sensor_size_is_set(lab, tmp_path):
    rng = np.random.default_rng(1)
    ev = make_events(rng.integers(0, 64, 500), rng.integers(0, 64, 500), np.sort(rng.integers(0, 400_000, 500)),
                     rng.integers(0, 2, 500))
    write_evt(lab / "evt3/rec002.raw", ev, (64, 64), version="evt3")
    with pytest.raises(FormatError, match=r"rec002\.raw: is a 64x64 \(width x height\) recording but "
                                          r"aedat2/rec000\.aedat \(row 2\) is 128x128"):
        _prepare(lab, tmp_path)
    m = _prepare(lab, tmp_path, sensor_size=[128, 128])  # every event fits the configured size
    assert m["sensor"] == [128, 128] and m["sensor_configured"]
    with pytest.raises(FormatError, match=r"has events at x up to 1\d\d, .*outside the dataset's 64x64"):
        _prepare(lab, tmp_path, sensor_size=[64, 64])


def test_the_config_refuses_a_synthetic_recordings_dataset_and_bad_options():
    cfg = yaml.safe_load((ROOT / "configs/examples/recordings.yaml").read_text())
    validate_config(cfg)
    bad = yaml.safe_load((ROOT / "configs/examples/recordings.yaml").read_text())
    bad["datasets"]["lab"]["source"] = "synthetic"
    with pytest.raises(ConfigError, match=r"'datasets\.lab\.source' is 'synthetic'; allowed values: 'local'"):
        validate_config(bad)
    bad = yaml.safe_load((ROOT / "configs/examples/recordings.yaml").read_text())
    bad["datasets"]["lab"]["recordings"]["test_fraction"] = 1.5
    with pytest.raises(ConfigError, match=r"datasets\.lab\.recordings\.test_fraction"):
        validate_config(bad)


WF_CONFIG = {
    "datasets": {"lab": {"kind": "recordings", "source": "local", "path": "lab",
                         "recordings": {"test_fraction": 0.34, "seed": 0}},
                 "other": {"kind": "recordings", "source": "local", "path": "other"}},
    "frames": {"lab_t4": {"dataset": "lab", "T": 4, "downsample": 4},
               "other_t4": {"dataset": "other", "T": 4, "downsample": 4}},
    "models": {"lab_plif": {"task": "gesture", "frames": "lab_t4", "arch": "plif_net",
                            "net": {"channels": 8, "n_conv": 2, "fc_hidden": 32, "voters": 4, "dropout": 0.0},
                            "train": {"epochs": 8, "batch_size": 4, "lr": 0.01, "val_fraction": 0.2,
                                      "loss": "cross_entropy", "threads": 1, "seed": 0}}},
    "lava": {"run": False}, "nir": {"run": False}, "cost": {"samples": 4},
}


@pytest.mark.slow
def test_the_gesture_pipeline_learns_a_labelled_folder_of_three_formats_and_an_edited_csv_reruns_its_chain(tmp_path):
    wf = copy_project(tmp_path / "wf")
    write_example(wf / "lab", formats=FORMATS, per_class=12, events_per_sample=600)
    write_example(wf / "other", formats=("aedat4",), per_class=2, events_per_sample=200, seed=1)
    (wf / "lab.yaml").write_text(yaml.safe_dump(WF_CONFIG))
    # the table (and what it reads: evaluation, cost) and the other dataset's frames; not the report pages
    targets = ("results/tables/gesture.csv", "results/frames/other_t4/train.h5", "--configfile", "lab.yaml")
    smk(wf, *targets)
    m = json.loads((wf / "results/eval/lab_plif/metrics.json").read_text())
    assert m["n_samples"] == 12 and m["accuracy"] > m["chance_accuracy"] + 0.25, m
    assert m["class_names"] == ["left", "right", "top"] and np.array(m["confusion"]).shape == (3, 3)
    table = pd.read_csv(wf / "results/tables/gesture.csv")
    assert list(table["model"]) == ["lab_plif"] and table["dataset"].iloc[0] == "lab"  # no DVS128 published rows
    assert "Event recordings (lab)" in (wf / "results/tables/gesture.md").read_text()
    assert planned_jobs(smk(wf, "-n", *targets)) == {}
    # touching the labels CSV makes its frames and what follows stale (the raw files' size and mtime), not the
    # other dataset's frames; editing it re-makes its manifest too (Snakemake compares the content of a touched input)
    csv_path = wf / "lab/labels.csv"
    later = (wf / "results/data/lab/manifest.json").stat().st_mtime + 2
    os.utime(csv_path, (later, later))
    chain = {"frames": 1, "train": 1, "evaluate_gesture": 1, "cost": 1, "table": 1}
    assert planned_jobs(smk(wf, "-n", *targets)) == chain
    rows = _rows(wf / "lab")
    rows[1][4] = str(int(rows[1][4]) - 1000)  # the first segment ends 1 ms earlier
    _write(wf / "lab", rows)
    assert planned_jobs(smk(wf, "-n", *targets)) == {"dataset": 1, **chain}
