"""The synthetic DvsGesture tree: raw layout, real-data quirks, determinism, learnability."""
from __future__ import annotations

import numpy as np
import pytest

from evsnn.events import slice_time
from evsnn.io import info
from evsnn.io.aedat3 import read_aedat3
from evsnn.io.dvsgesture import CLASS_NAMES, list_trials, read_gesture_mapping, read_labels, read_trial_list
from evsnn.tasks.gesture.synth import write_dvsgesture_tree

SMALL = dict(n_train_users=2, n_test_users=1, lightings=("fluorescent", "led"), repeats=2, seed=0)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("DvsGesture")
    summary = write_dvsgesture_tree(root, **SMALL)
    return root, summary


def test_layout_and_split(tree):
    root, summary = tree
    assert read_trial_list(root / "trials_to_train.txt") == [
        "user01_fluorescent.aedat", "user01_led.aedat", "user02_fluorescent.aedat", "user02_led.aedat"]
    assert read_trial_list(root / "trials_to_test.txt") == ["user03_fluorescent.aedat", "user03_led.aedat"]
    trials = list_trials(root)
    assert len(trials["train"]) == 4 and len(trials["test"]) == 2
    assert summary["samples"] == {"train": 4 * 22, "test": 2 * 22}
    for name in ("README.txt", "LICENSE.txt"):
        assert "SYNTHETIC" in (root / name).read_text()
    assert read_gesture_mapping(root / "gesture_mapping.csv")[1] == "hand_clapping"
    assert len(read_gesture_mapping(root / "gesture_mapping.csv")) == len(CLASS_NAMES)
    assert summary["bytes"] == sum(p.stat().st_size for p in root.glob("*.aedat"))


def test_aedat_files_look_like_the_real_ones(tree):
    root, summary = tree
    a = root / "user01_fluorescent.aedat"
    raw = a.read_bytes()
    assert raw.startswith(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: ")
    ev, hdr = read_aedat3(a)
    assert hdr["polarity_packets"] > 5 and hdr["skipped_packets"].get("SPECIAL", 0) >= 1
    assert len(ev) == summary["events_per_file"]["user01_fluorescent"]
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"][0] > 2_000_000  # absolute timestamps, seconds into the recording
    assert ev["x"].max() < 128 and ev["y"].max() < 128
    assert 0.3 < ev["p"].mean() < 0.7
    out = info(a)
    assert out["format"] == "AEDAT 3.1" and out["camera_layout"] == "DVS128" and out["resolution"] == [128, 128]


def test_labels_have_the_real_quirks(tree):
    root, summary = tree
    all_labels = {p.name: read_labels(p) for p in sorted(root.glob("*_labels.csv"))}
    overlaps = out_of_order = 0
    for name, lab in all_labels.items():
        counts = np.bincount(lab["label"], minlength=11)
        assert np.all(counts == 2), name  # each class twice per file: repeated classes
        assert not np.all(np.diff(lab["label"]) >= 0), name  # classes not in numeric order
        out_of_order += int(not np.all(np.diff(lab["start"]) > 0))
        srt = np.sort(lab, order="start")
        overlaps += int(np.any(srt["end"][:-1] > srt["start"][1:]))
    assert out_of_order >= 1 and overlaps >= 1
    assert summary["quirks"]["overlap"] in {n[:-len("_labels.csv")] for n in all_labels}
    # every window has events, and the gesture dominates the background noise inside it
    ev, _ = read_aedat3(root / "user02_led.aedat")
    lab = all_labels["user02_led_labels.csv"]
    counts = [len(slice_time(ev, s, e)) for s, e in zip(lab["start"], lab["end"])]
    assert min(counts) > 2000


def test_deterministic(tmp_path, tree):
    root, _ = tree
    small = dict(SMALL, n_train_users=1, n_test_users=0, lightings=("led",))
    write_dvsgesture_tree(tmp_path / "a", **small)
    assert (tmp_path / "a" / "user01_led.aedat").read_bytes() == (root / "user01_led.aedat").read_bytes()
    # same gestures; only the quirks (row order, one stretched window) go to different files in a smaller tree
    la, lb = read_labels(tmp_path / "a" / "user01_led_labels.csv"), read_labels(root / "user01_led_labels.csv")
    assert sorted(zip(la["label"].tolist(), la["start"].tolist())) == sorted(zip(lb["label"].tolist(),
                                                                                 lb["start"].tolist()))
    write_dvsgesture_tree(tmp_path / "b", **dict(small, seed=1))
    assert (tmp_path / "b" / "user01_led.aedat").read_bytes() != (root / "user01_led.aedat").read_bytes()


def _features(trials, bins=4, grid=8):
    """Coarse 2-channel count images over ``bins`` equal-count time bins, L2-normalised."""
    X, Y = [], []
    for aedat, csv in trials:
        ev, _ = read_aedat3(aedat)
        for label, start, end in read_labels(csv).tolist():
            e = slice_time(ev, start, end)
            f = np.zeros((bins, 2, grid, grid))
            k = np.minimum(np.arange(len(e)) * bins // max(len(e), 1), bins - 1)
            np.add.at(f, (k, e["p"].astype(int), e["y"] * grid // 128, e["x"] * grid // 128), 1)
            f = f.ravel()
            X.append(f / (np.linalg.norm(f) + 1e-9))
            Y.append(label)
    return np.array(X), np.array(Y)


def test_classes_are_learnable(tree):
    """Per-class mean event trajectories differ: a nearest-centroid classifier generalises to the test user."""
    root, _ = tree
    trials = list_trials(root)
    Xtr, Ytr = _features(trials["train"])
    Xte, Yte = _features(trials["test"])
    centroids = np.stack([Xtr[Ytr == k].mean(axis=0) for k in range(11)])
    acc = float(np.mean(np.argmax(Xte @ centroids.T, axis=1) == Yte))
    assert acc > 0.5, acc  # chance is 1/11
    # clockwise vs counter-clockwise on the same side differ only in time order: check they are told apart
    for cw, ccw in ((3, 4), (5, 6)):
        pair = np.isin(Yte, [cw, ccw])
        pred = np.argmax(Xte[pair] @ centroids[[cw, ccw]].T, axis=1)
        assert np.mean(np.array([cw, ccw])[pred] == Yte[pair]) >= 0.75
