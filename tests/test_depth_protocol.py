"""StereoSpike's MVSEC protocol: item lists, area closing, grid count frames, validation from the test sequence."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from evsnn.errors import ConfigError, DataMissingError
from evsnn.tasks.depth.protocols import (SS_FRAMES, area_closing, area_closing_bruteforce, ss_lists)


def test_ss_lists_split_the_test_sequence():
    for split, n_val, n_test, n in ((1, 200, 861, 1061), (3, 200, 1342, 1542)):
        val, test = ss_lists(split)
        assert len(val) == n_val and len(test) == n_test and sorted(val + test) == list(range(n))
    # split 1's slice holds 1060 items: the committed test list runs one item (1060) past it
    start, stop = SS_FRAMES[1]["indoor_flying1"]
    assert stop - start - 2 == 1060 and max(ss_lists(1)[1]) == 1060
    assert SS_FRAMES[3]["indoor_flying3"] == (72, 1816)
    with pytest.raises(ConfigError, match="splits 1, 3"):
        ss_lists(2)


def test_area_closing_matches_its_definition():
    rng = np.random.default_rng(0)
    for it in range(200):
        H, W = rng.integers(4, 14, 2)
        a = rng.integers(0, 6, (H, W)).astype(float) if it % 2 else rng.random((H, W))
        a[rng.random((H, W)) < rng.uniform(0, 0.4)] = np.nan
        lam = int(rng.integers(2, min(12, H * W)))
        assert np.array_equal(area_closing(a, lam), area_closing_bruteforce(a, lam), equal_nan=True), it


def test_area_closing_fills_small_holes_only():
    d = np.full((20, 20), 3.0)
    d[2:4, 2:4] = np.nan          # 4 px hole -> filled with the surrounding depth
    d[10:16, 10:16] = np.nan      # 36 px hole -> stays
    d[5, 15] = 1.0                # a 1-px pit -> raised
    out = area_closing(d, 24)
    assert np.all(out[2:4, 2:4] == 3.0) and np.isnan(out[10:16, 10:16]).all() and out[5, 15] == 3.0


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    from evsnn.tasks.depth.data import prepare_mvsec

    root = tmp_path_factory.mktemp("ssproto")
    man = prepare_mvsec("mvsec", {"source": "synthetic", "synthetic": {
        "scene": "dots", "baseline_m": 0.3, "duration_s": 1.3, "n_planes": 2, "texel_px": 32, "seed": 0}},
        str(root / "res"), str(root / "manifest.json"))
    return root, man


def _frames(**mvsec):
    return {"T": 1, "downsample": 2, "mvsec": {"protocol": "stereospike", "split": 1, "crop": [256, 344],
                                               "frame_ranges": {"indoor_flying1": [1, 24], "indoor_flying2": [1, 24],
                                                                "indoor_flying3": [1, 24]}, **mvsec}}


def test_stereospike_caches_hold_grid_frames_and_flag_validation_items(tree):
    from evsnn.data import FrameCacheDataset, holdout_split
    from evsnn.tasks.depth.data import build_stereospike_frames, depth_options

    root, man = tree
    cfg = _frames(val_items=[1, 5], test_items=[0, 2, 3, 4, 6, 20])
    res = build_stereospike_frames(man, depth_options(cfg), str(root / "tr.h5"), str(root / "te.h5"))
    assert res["samples"] == {"train": 2 * 21, "val": 2, "test": 6}
    te = FrameCacheDataset(root / "te.h5")
    test_idx, val_idx = holdout_split(te)
    assert len(test_idx) == 6 and len(val_idx) == 2
    with h5py.File(root / "te.h5") as h5:
        assert list(h5["item"][:]) == [0, 1, 2, 3, 4, 5, 6, 20]
        assert list(h5["depth_index"][:]) == [1 + 2 + i for i in (0, 1, 2, 3, 4, 5, 6, 20)]
        assert h5.attrs["channels"] == "left_on,left_off,right_on,right_off" and h5.attrs["fill_holes"] == 24
        assert json.loads(h5.attrs["protocol"])["test"] == {"indoor_flying1": [1, 24]}
    x, y = te[0]
    assert x.shape == (1, 4, 128, 172) and float(x.sum()) > 0
    tr = holdout_split(FrameCacheDataset(root / "tr.h5"))
    assert len(tr[0]) == 42 and len(tr[1]) == 0   # training items carry the flag too, all 0


def test_training_validates_on_the_flagged_items_and_evaluation_leaves_them_out(tree):
    from evsnn.tasks.depth.evaluate import evaluate_depth
    from evsnn.train import RunSpec, fit

    root, _ = tree
    if not (root / "te.h5").exists():
        pytest.skip("needs the caches of the test above")
    train = {"epochs": 2, "batch_size": 8, "optimizer": "adam", "lr": 2e-4, "scheduler": "multistep",
             "milestones": [1], "gamma": 0.5, "val_fraction": 0.2, "loss": "stereospike", "seed": 0,
             "device": "cpu", "amp": False, "num_workers": 0, "threads": 1, "momentum": 0.9, "weight_decay": 0.0}
    s = fit(RunSpec("depth", "stereospike", {"width": 0.0625}, train), str(root / "tr.h5"), str(root / "te.h5"),
            str(root / "m.pt"), str(root / "m.csv"), str(root / "s.json"), str(root / "c.ckpt"))
    assert (s["n_train"], s["n_val"], s["n_test"]) == (42, 2, 6)
    res = evaluate_depth(str(root / "m.pt"), str(root / "te.h5"), str(root / "tr.h5"), str(root / "e.json"),
                         str(root / "p.npz"), str(root / "f.png"), threads=1)
    assert res["n_samples"] == 6 and np.isfinite(res["mde_cm"])


def test_stereospike_bad_inputs_are_one_sentence(tree):
    from evsnn.tasks.depth.data import build_stereospike_frames, depth_options

    root, man = tree
    with pytest.raises(ConfigError, match=r"mvsec\.test_items runs past the sequence: item 40 of indoor_flying1"):
        build_stereospike_frames(man, depth_options(_frames(val_items=[1], test_items=[0, 40])),
                                 str(root / "a.h5"), str(root / "b.h5"))
    # the committed split-1 slices need the real sequences' 1200+ depth maps
    cfg = _frames()
    del cfg["mvsec"]["frame_ranges"]
    with pytest.raises(DataMissingError, match=r"slice \[159, 1581\) of indoor_flying2 runs past the sequence"):
        build_stereospike_frames(man, depth_options(cfg), str(root / "a.h5"), str(root / "b.h5"))
    with pytest.raises(ConfigError, match="protocol"):
        depth_options({"T": 1, "mvsec": {"protocol": "ddes"}})
    with pytest.raises(ConfigError, match="split"):
        depth_options({"T": 1, "mvsec": {"protocol": "stereospike", "split": 7}})


def test_a_calibration_whose_baseline_does_not_match_the_recordings_is_refused(tmp_path):
    from evsnn.tasks.depth.data import prepare_mvsec
    from evsnn.tasks.depth.synth import write_mvsec_tree

    write_mvsec_tree(tmp_path / "tree", sequences=("indoor_flying1",), scene="dots", baseline_m=0.4,
                     duration_s=0.2, n_planes=1)
    with pytest.raises(ConfigError, match=r"camchain-imucam-indoor_flying\.yaml: cam1\.projection_matrix\[0\]\[3\] "
                                          r"gives a focal x baseline of 90\.55"):
        prepare_mvsec("mvsec", {"source": "local", "path": str(tmp_path / "tree"), "sequences": ["indoor_flying1"]},
                      str(tmp_path / "res"), str(tmp_path / "manifest.json"))
