"""Issue 17, predict on a new recording, the parts beyond gesture and pose: depth models on an MVSEC-style recording
(the frames must be the very frames the model's caches hold, both protocols), and ``--lava`` for lava-dl models
(the netx export run in Lava gives the predictions of the exported network)."""
import json
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from evsnn.data import time_major


def _frames_record(cache):
    from evsnn.data import read_cache_attrs
    from evsnn.train import _plain

    return {k: _plain(v) for k, v in read_cache_attrs(cache).items()}


def _save_model(d, arch, net, frames_record, in_shape=(4, 32, 43), task="depth", n_classes=1, seed=0):
    from evsnn.models import build_model

    torch.manual_seed(seed)
    model = build_model(arch, net, in_shape=in_shape, n_classes=n_classes).eval()
    d.mkdir(parents=True)
    torch.save({"arch": arch, "task": task, "net": net, "in_shape": list(in_shape), "n_classes": n_classes,
                "state_dict": model.state_dict(), "epoch": 0}, d / "model.pt")
    (d / "summary.json").write_text(json.dumps({"arch": arch, "task": task, "frames": frames_record}))
    return model


@pytest.fixture(scope="module")
def mvsec(tmp_path_factory):
    """A short synthetic MVSEC tree (3 x 0.6 s), the caches of both protocols (counts and voxel grids for evsnn's)
and a depth model of another family on each."""
    from evsnn.tasks.depth.data import build_depth_frames, prepare_mvsec

    d = tmp_path_factory.mktemp("mvsec")
    manifest = prepare_mvsec("mvsec", {"source": "synthetic", "synthetic": {"duration_s": 0.6}}, str(d),
                             str(d / "manifest.json"))
    build_depth_frames(manifest, {"T": 5, "downsample": 8, "mvsec": {"crop": [256, 344], "ranges": "all"}},
                       str(d / "train.h5"), str(d / "test.h5"))
    build_depth_frames(manifest, {"T": 4, "downsample": 4, "mvsec": {
        "crop": [256, 344], "ranges": "all", "representation": "voxel", "window_ms": 40}},
        str(d / "vox_train.h5"), str(d / "vox_test.h5"))
    ss = {"indoor_flying1": [0, 12], "indoor_flying2": [0, 12], "indoor_flying3": [0, 12]}
    build_depth_frames(manifest, {"T": 1, "downsample": 8, "mvsec": {
        "crop": [256, 344], "protocol": "stereospike", "frame_ranges": ss, "val_items": [0, 1],
        "test_items": [2, 3, 4, 5, 6, 7]}}, str(d / "ss_train.h5"), str(d / "ss_test.h5"))
    net = {"modality": "binocular", "base_channels": 4, "n_levels": 2, "min_depth": 0.5, "max_depth": 10.0}
    models = {"bino": _save_model(d / "results" / "models" / "bino", "depth_snn", net,
                                  _frames_record(d / "train.h5")),
              "mono": _save_model(d / "results" / "models" / "mono", "depth_ann", {**net, "modality": "monocular"},
                                  _frames_record(d / "train.h5")),
              "vox": _save_model(d / "results" / "models" / "vox", "depth_hybrid", {**net, "ann_base_channels": 4},
                                 _frames_record(d / "vox_train.h5"), in_shape=(4, 64, 86)),
              "ss": _save_model(d / "results" / "models" / "ss", "stereospike", {"width": 0.125,
                                                                                 "modality": "monocular"},
                                _frames_record(d / "ss_train.h5"))}
    seq = next(s for s in manifest["sequences"] if s["name"] == "indoor_flying1")
    return {"dir": d, "data": seq["data"], "gt": seq["gt"], "models": models,
            "model_dir": {k: d / "results" / "models" / k for k in models}}


def _cache(path):
    with h5py.File(path, "r") as h5:
        return {k: h5[k][:] for k in ("frames", "labels", "window", "depth_index")}


def _model_on(model, frames):
    with torch.no_grad():
        y = model(time_major(torch.as_tensor(frames.astype(np.float32))))
    return (y[-1] if y.dim() == 4 else y).numpy()


@pytest.mark.parametrize("which, cache", [("bino", "test.h5"), ("mono", "test.h5"), ("vox", "vox_test.h5"),
                                          ("ss", "ss_test.h5")])
def test_predict_depth_gives_the_models_answer_on_its_cached_frames(tmp_path, mvsec, which, cache):
    """With the recording's ground truth, every window that the test cache also holds (same depth map) gets the
    same time span, the same prediction (the frames are the cache's, bit for bit) and the same label."""
    from evsnn.predict import predict

    res = predict(mvsec["model_dir"][which], mvsec["data"], tmp_path / "out", gt=mvsec["gt"], clip=False)
    z = np.load(tmp_path / "out" / "predictions.npz")
    c = _cache(mvsec["dir"] / cache)
    ref = _model_on(mvsec["models"][which], c["frames"])
    common = [(j, int(np.flatnonzero(z["depth_index"] == i)[0])) for j, i in enumerate(c["depth_index"])
              if i in z["depth_index"]]
    assert len(common) >= 0.7 * len(c["depth_index"]), (c["depth_index"], z["depth_index"])
    for j, k in common:
        assert [z["start_us"][k], z["end_us"][k]] == list(c["window"][j])
        np.testing.assert_array_equal(z["depth"][k], ref[j])
        np.testing.assert_array_equal(z["gt"][k], c["labels"][j])
    df = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert list(df.columns) == ["window", "start_us", "end_us", "events", "mean_depth_m", "valid_pixels",
                                "depth_index", "gt_valid_pixels", "mean_gt_depth_m", "mde_cm"]
    window = 40_000 if which == "vox" else 50_000
    assert len(df) == res["windows"] == len(z["depth"]) and (df["end_us"] - df["start_us"] == window).all()
    err = np.nanmean([np.abs(z["depth"][k] - z["gt"][k])[np.isfinite(z["gt"][k])].mean() * 100
                      for k in range(len(z["depth"]))])
    assert res["mde_cm"] == pytest.approx(err, rel=1e-5) and df["mde_cm"].mean() == pytest.approx(err, rel=1e-3)
    ok = z["depth"] > 0  # a depth, not an untrained model's negative output
    assert (df["valid_pixels"] == ok.sum(axis=(1, 2))).all()
    mean = [z["depth"][k][ok[k]].mean() if ok[k].any() else np.nan for k in range(len(ok))]
    assert np.allclose(df["mean_depth_m"], mean, atol=1e-4, equal_nan=True)
    assert res["protocol"] == ("stereospike" if which == "ss" else "evsnn")
    assert res["modality"] == ("binocular" if which in ("bino", "vox") else "monocular")


def test_predict_depth_without_ground_truth_and_its_clip(tmp_path, mvsec):
    from PIL import Image

    from evsnn.predict import predict

    res = predict(mvsec["model_dir"]["bino"], mvsec["data"], tmp_path / "out")
    z = np.load(tmp_path / "out" / "predictions.npz")
    assert "gt" not in z and "mde_cm" not in res
    assert (np.diff(z["start_us"]) == 50_000).all() and res["windows"] == len(z["depth"]) >= 10
    assert z["depth"].shape[1:] == (32, 43) and z["depth"].dtype == np.float32
    assert np.allclose(z["timestamp_s"], z["origin_s"] + z["end_us"] * 1e-6)
    im = Image.open(tmp_path / "out" / "clip.gif")
    assert im.n_frames == res["windows"] and im.size[0] > 600
    assert 'src="data:image/gif;base64,' in (tmp_path / "out" / "clip.html").read_text()


def _copy(src, dst, *, drop=(), shift_x=0):
    with h5py.File(src, "r") as a, h5py.File(dst, "w") as b:
        for cam in ("left", "right"):
            if cam in drop:
                continue
            ev = a[f"davis/{cam}/events"][:]
            ev[:, 0] += shift_x
            b.create_dataset(f"davis/{cam}/events", data=ev)
    return dst


def test_predict_depth_refuses_what_does_not_fit(tmp_path, mvsec):
    from evsnn.predict import PredictError, predict

    calib = next((mvsec["dir"] / "synthetic").rglob("camchain-imucam-indoor_flying.yaml")).parent
    mono = _copy(mvsec["data"], tmp_path / "indoor_flying1_data.hdf5", drop=("right",))
    cases = [
        (mvsec["model_dir"]["bino"], mono, {"calib": calib}, "has no /davis/right/events .a monocular recording.; "
                                                             "depth_snn is a binocular model"),
        (mvsec["model_dir"]["bino"], _copy(mvsec["data"], tmp_path / "wide.hdf5", shift_x=300), {"calib": calib},
         "has left events at x up to 6.., y up to 2..: not the 346x260 sensor the model was trained on"),
        (mvsec["model_dir"]["bino"], mvsec["gt"], {}, "has no /davis/left/events: a ground-truth file"),
        (mvsec["model_dir"]["mono"], tmp_path / "indoor_flying1_data.hdf5", {},
         "no calibration of scene indoor_flying"),
    ]
    for model_dir, rec, kw, msg in cases:
        with pytest.raises(PredictError, match=msg) as err:
            predict(model_dir, rec, tmp_path / "o", **kw)
        assert str(rec) in str(err.value) and "\n" not in str(err.value)
    # a monocular model reads a monocular file
    res = predict(mvsec["model_dir"]["mono"], mono, tmp_path / "m", calib=calib, clip=False)
    assert res["windows"] >= 10 and res["outputs"] == [str(tmp_path / "m" / "predictions.npz"),
                                                       str(tmp_path / "m" / "predictions.csv")]
    # another task's recording, a model directory without a finished model
    from evsnn.events import make_events
    from evsnn.io.aedat3 import write_aedat3

    aedat = write_aedat3(tmp_path / "g.aedat", make_events([1, 2], [1, 2], [0, 10], [0, 1]))
    with pytest.raises(PredictError, match=r"g.aedat is a AEDAT 3.1 file; depth_snn is an MVSEC depth model"):
        predict(mvsec["model_dir"]["bino"], aedat, tmp_path / "o")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    with pytest.raises(PredictError, match="model.pt does not exist: .* holds no finished model"):
        predict(unfinished, mvsec["data"], tmp_path / "o")
    with pytest.raises(PredictError, match="not a lava-dl one .*rule export_netx"):
        predict(mvsec["model_dir"]["bino"], mvsec["data"], tmp_path / "o", lava=True)


# --- predict --lava ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sdnn(tmp_path_factory):
    """A gesture_sdnn trained for a few steps (its learnt thresholds leave the 1/64 grid), in the workflow's layout,
    exported to netx as the rule export_netx does."""
    from evsnn.lava.deploy import export_trained
    from evsnn.models import build_model

    root = tmp_path_factory.mktemp("wf") / "results"
    d = root / "models" / "gesture_sdnn"
    d.mkdir(parents=True)
    net = {"channels": [4, 8], "hidden": 16}
    torch.manual_seed(0)
    model = build_model("gesture_sdnn", net, in_shape=(2, 32, 32), n_classes=3)
    x = torch.poisson(torch.full((4, 12, 2, 32, 32), 0.3))
    y = torch.arange(12) % 3
    for c in range(3):
        x[:, y == c, c % 2, 10 * c: 10 * c + 10] += 2
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    losses = []
    for _ in range(4):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0], losses
    model.eval()
    torch.save({"arch": "gesture_sdnn", "task": "gesture", "net": net, "in_shape": [2, 32, 32], "n_classes": 3,
                "state_dict": model.state_dict(), "epoch": 3}, d / "model.pt")
    frames = {"kind": "dvsgesture", "T": 4, "split_by": "number", "downsample": 4, "H": 32, "W": 32,
              "sensor_h": 128, "sensor_w": 128, "class_names": "a,b,c"}
    (d / "summary.json").write_text(json.dumps({"arch": "gesture_sdnn", "task": "gesture", "frames": frames}))
    export_trained(d / "model.pt", root / "lava" / "gesture_sdnn" / "network.net")
    return d


def test_predict_lava_runs_the_export_and_agrees_with_pytorch(tmp_path, sdnn):
    from test_researcher_tools import _recording

    from evsnn.frames import integrate_fixed_frames
    from evsnn.io import read_events
    from evsnn.lava.export import quantize_thresholds
    from evsnn.predict import predict
    from evsnn.train import load_model

    rec = _recording(tmp_path / "new.aedat")
    pt = predict(sdnn, rec, tmp_path / "pt", window_ms=500, clip=False)
    lava = predict(sdnn, rec, tmp_path / "lava", window_ms=500, lava=True, clip=False)
    net = sdnn.parent.parent / "lava" / "gesture_sdnn" / "network.net"
    assert pt["engine"] == "pytorch" and lava["engine"] == "lava" and lava["net"] == str(net)
    a, b = pd.read_csv(tmp_path / "pt" / "predictions.csv"), pd.read_csv(tmp_path / "lava" / "predictions.csv")
    assert len(a) == len(b) == 6 and (a["class"] == b["class"]).all()
    # Lava is bit-exact with the exported network: the trained model with its learnt sigma-delta thresholds
    # snapped to netx's 1/64 grid (the unsnapped PyTorch scores differ from it in the third decimal at most)
    model, _ = load_model(sdnn / "model.pt")
    quantize_thresholds(model)
    ev, _ = read_events(rec)
    ev = ev[np.argsort(ev["t"], kind="stable")]
    xs = np.stack([integrate_fixed_frames(ev[(ev["t"] >= s) & (ev["t"] < e)], 4, split_by="number", H=128, W=128,
                                          downsample=4) for s, e in zip(b["start_us"], b["start_us"] + 500_000)])
    with torch.no_grad():
        snapped = torch.softmax(model(time_major(torch.as_tensor(xs, dtype=torch.float32))), -1).numpy()
    assert b["score"].tolist() == [round(float(v), 4) for v in snapped.max(1)]
    assert np.abs(a["score"] - b["score"]).max() < 0.02
    # an explicit --net gives the same
    again = predict(sdnn, rec, tmp_path / "net", window_ms=500, lava=True, net=net, clip=False)
    assert again["net"] == str(net)
    assert pd.read_csv(tmp_path / "net" / "predictions.csv").equals(b)


def test_predict_lava_says_which_export_is_missing(tmp_path, sdnn):
    import shutil

    from evsnn.predict import PredictError, predict

    other = tmp_path / "results" / "models" / "g2"
    shutil.copytree(sdnn, other)
    rec = tmp_path / "r.aedat"
    with pytest.raises(PredictError) as err:
        predict(other, rec, tmp_path / "o", lava=True)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'results' / 'lava' / 'g2' / 'network.net'} does not exist")
    assert "rule export_netx" in msg and "--net FILE" in msg and "\n" not in msg
    with pytest.raises(PredictError, match="--net .*nope.net does not exist"):
        predict(other, rec, tmp_path / "o", lava=True, net=tmp_path / "nope.net")
    with pytest.raises(PredictError, match="add --lava to run it"):
        predict(other, rec, tmp_path / "o", net=tmp_path / "nope.net")
    from evsnn.lava.export import export_network
    from evsnn.models import build_model

    small = build_model("gesture_sdnn", {"channels": [4], "hidden": 8}, in_shape=(2, 32, 32), n_classes=3)
    export_network(small, tmp_path / "small.net")
    with pytest.raises(PredictError, match=r"small.net has 6 layers but .*g2/model.pt has 8 blocks: not the export"):
        predict(other, rec, tmp_path / "o", lava=True, net=tmp_path / "small.net")
    with pytest.raises(PredictError, match="--gt gt.hdf5: a ground-truth file is for depth and pose models; "
                                           "gesture_sdnn is a dvsgesture model"):
        predict(other, rec, tmp_path / "o", gt="gt.hdf5")
    out = subprocess.run([sys.executable, "-m", "evsnn", "predict", str(other), str(rec), "--lava"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("evsnn error: ") and len(out.stderr.splitlines()) == 1
