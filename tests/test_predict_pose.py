"""Issue 17 item 4 for pose models: ``predict`` on a new DHP19-style recording (the official preprocessing, one
camera, sequences of T frames) with PyTorch and with ``--lava`` (the netx export run in Lava gives the answer of the
exported network), and the clip it draws (the events of the camera with the predicted skeleton; predict reads no
Vicon file, which the clip says)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from evsnn.data import time_major

try:  # Lava sets the multiprocessing start method when imported: import it at collection, before the cache build
    import lava.lib.dl.netx  # noqa: F401
except ImportError:
    pass

CROP = [2, 12, 256, 320]  # the centred 256 x 320 crop of the 260 x 344 CNN input; 32 x 40 after k = 8
PRE = {"events_per_frame": 1000}


@pytest.fixture(scope="module")
def pose(tmp_path_factory):
    """One synthetic DHP19 recording (a DHP19 tree: events, Vicon, P matrices), its pose cache, and a tiny
    dhp19_sdnn trained for a few steps (its learnt thresholds leave netx's 1/64 grid) in the workflow's layout with
    the cache's frames record, exported to netx as the rule export_netx does."""
    from evsnn.data import read_cache_attrs
    from evsnn.lava.deploy import export_trained
    from evsnn.models import build_model
    from evsnn.tasks.pose.data import build_pose_frames, prepare_dhp19
    from evsnn.train import _plain

    root = tmp_path_factory.mktemp("pose")
    manifest = prepare_dhp19("dhp19", {"source": "synthetic", "synthetic": {
        "subjects": [1, 13], "sessions": [1], "movements": [1], "duration_s": 0.6, "pathologies": {},
        "hot_pixel": False}}, str(root), str(root / "manifest.json"))
    build_pose_frames(manifest, {"T": 2, "downsample": 8, "dhp19": {"crop": CROP[2:], "cameras": [2, 3], **PRE}},
                      str(root / "train.h5"), str(root / "test.h5"))
    d = root / "results" / "models" / "pose_sdnn"
    d.mkdir(parents=True)
    net = {"base_channels": 2, "threshold": 0.04}
    torch.manual_seed(0)
    model = build_model("dhp19_sdnn", net, in_shape=(1, 32, 40), n_classes=13)
    x = torch.poisson(torch.full((2, 6, 1, 32, 40), 1.0))
    y = torch.rand(6, 13, 32, 40)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(3):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    torch.save({"arch": "dhp19_sdnn", "task": "pose", "net": net, "in_shape": [1, 32, 40], "n_classes": 13,
                "state_dict": model.state_dict(), "epoch": 2}, d / "model.pt")
    frames = {k: _plain(v) for k, v in read_cache_attrs(root / "train.h5").items()}
    assert json.loads(frames["crop"]) == CROP and frames["H"] == 32 and frames["W"] == 40
    (d / "summary.json").write_text(json.dumps({"arch": "dhp19_sdnn", "task": "pose", "frames": frames}))
    export_trained(d / "model.pt", root / "results" / "lava" / "pose_sdnn" / "network.net")
    rec = next(r for r in manifest["recordings"] if r["subject"] == 1)  # a recording of the train cache
    return {"model": d, "recording": rec["aedat"], "vicon": rec["vicon"], "cache": root / "train.h5",
            "p_matrices": manifest["p_matrices"]}


def _frames(recording, camera=2):
    """The model's input built here from the official preprocessing, as the pose caches are."""
    from evsnn.io import read_events
    from evsnn.tasks.pose.data import camera_frames
    from evsnn.tasks.pose.preprocess import preprocess_events

    ev, _ = read_events(recording)
    t = ev["t"]
    dvs, _, _ = preprocess_events(ev, int(t[0]), int(t[-1]) + 1, np.full((1000, 3, 13), np.nan), **PRE)
    f = camera_frames(dvs, camera, 8, CROP[2:])
    return np.stack([f[i - 1: i + 1, None] for i in range(1, len(f))]).astype(np.float32)


def test_predict_pose_lava_is_the_snapped_pytorch_model(tmp_path, pose):
    from evsnn.lava.export import quantize_thresholds
    from evsnn.predict import predict
    from evsnn.tasks.pose.data import cache_to_sensor
    from evsnn.tasks.pose.pose3d import heatmap_argmax
    from evsnn.train import load_model

    pt = predict(pose["model"], pose["recording"], tmp_path / "pt", clip=False)
    lava = predict(pose["model"], pose["recording"], tmp_path / "lava", lava=True, clip=False)
    net = pose["model"].parent.parent / "lava" / "pose_sdnn" / "network.net"
    assert pt["engine"] == "pytorch" and lava["engine"] == "lava" and lava["net"] == str(net)
    assert pt["camera"] == lava["camera"] == 2 and pt["frames"] == lava["frames"] >= 5
    a, b = np.load(tmp_path / "pt" / "predictions.npz"), np.load(tmp_path / "lava" / "predictions.npz")
    # the reference: the trained model with its learnt thresholds snapped to netx's grid, on the frames built here
    model, _ = load_model(pose["model"] / "model.pt")
    learnt = [blk.neuron.delta.threshold.item() for blk in model.blocks if hasattr(blk, "neuron")]
    assert any(abs(v * 64 - round(v * 64)) > 1e-6 for v in learnt), learnt  # training moved them off the grid
    quantize_thresholds(model)
    x = _frames(pose["recording"])
    assert len(x) == lava["frames"]
    with torch.no_grad():
        hm = model(time_major(torch.as_tensor(x)))
    uv, conf = heatmap_argmax(hm.numpy())
    attrs = {"crop": json.dumps(CROP), "downsample": 8}
    np.testing.assert_array_equal(b["uv"], cache_to_sensor(uv.astype(np.float64), attrs))
    np.testing.assert_array_equal(b["confidence"], conf)
    assert a["uv"].shape == b["uv"].shape == (len(x), 13, 2)
    assert (a["uv"] != b["uv"]).any()  # the model as trained (thresholds off the grid) answers differently
    assert (b["frame"] == np.arange(1, len(x) + 1)).all() and (b["end_us"] > b["start_us"]).all()
    assert (a["start_us"] == b["start_us"]).all() and (np.diff(b["end_us"]) > 0).all()
    df = pd.read_csv(tmp_path / "lava" / "predictions.csv")
    assert len(df) == len(x) and list(df.columns[:4]) == ["frame", "camera", "head_u", "head_v"]


def test_predict_pose_clip_shows_the_predicted_skeleton_and_says_there_is_no_truth(tmp_path, pose, monkeypatch):
    """The clip without a Vicon file: at most 30 consecutive samples, 5 frames/s, each frame with the time its
    events cover, the predicted skeleton and a line saying the true one is unknown; a few hundred kB."""
    from PIL import Image
    from test_researcher_tools import capture_clip_texts

    from evsnn.predict import PredictError, predict

    texts = capture_clip_texts(monkeypatch)
    res = predict(pose["model"], pose["recording"], tmp_path / "out")
    z = np.load(tmp_path / "out" / "predictions.npz")
    gif, page = tmp_path / "out" / "clip.gif", tmp_path / "out" / "clip.html"
    assert res["outputs"][-2:] == [str(gif), str(page)]
    im = Image.open(gif)
    n = min(30, res["frames"])
    assert im.n_frames == n and im.info["duration"] == 200 and gif.stat().st_size < 3_000_000
    assert len(texts) == n
    first = texts[0]
    k = (res["frames"] - n) // 2
    ms = (z["end_us"][k] - z["start_us"][k]) / 1000
    assert any(f"frame 1/{n} at 5 frames/s; this frame covers {ms:.4g} ms of events" in s for s in first), first
    assert any("true skeleton unknown (no --gt Vicon file)" in s for s in first), first
    assert any(f"camera 2, frame {int(z['frame'][k])}" in s for s in first) and "predicted" in first
    assert "true" not in first  # no true skeleton in the legend
    assert "5 frames/s" in page.read_text() and 'src="data:image/gif;base64,' in page.read_text()
    # --no-clip
    res = predict(pose["model"], pose["recording"], tmp_path / "none", clip=False)
    assert not (tmp_path / "none" / "clip.gif").exists() and len(res["outputs"]) == 2
    with pytest.raises(PredictError, match="--label head: a true class is for classifiers; dhp19_sdnn is a dhp19 "
                                           "model"):
        predict(pose["model"], pose["recording"], tmp_path / "o", label="head")


def test_predict_pose_with_the_vicon_file_gives_the_caches_samples_and_the_true_joints(tmp_path, pose, monkeypatch):
    """With ``--gt`` (the recording's Vicon file; the P matrices found above the recording in DHP19's tree) the
    frames are the official window's, those of the pose cache bit for bit, each with the true joints projected
    from its Vicon label, the 2D error and a clip that draws both skeletons."""
    import h5py
    from test_researcher_tools import capture_clip_texts

    from evsnn.io.dhp19 import read_projection_matrices
    from evsnn.predict import PredictError, predict
    from evsnn.tasks.pose.preprocess import project
    from evsnn.train import load_model

    texts = capture_clip_texts(monkeypatch)
    res = predict(pose["model"], pose["recording"], tmp_path / "out", gt=pose["vicon"])
    z = np.load(tmp_path / "out" / "predictions.npz")
    with h5py.File(pose["cache"], "r") as h5:
        sel = h5["camera"][:] == 2
        frames, xyz, index = h5["frames"][:][sel], h5["xyz"][:][sel], h5["frame"][:][sel]
    order = np.argsort(index)
    assert z["frame"].tolist() == index[order].tolist() and res["frames"] == len(index)
    np.testing.assert_array_equal(z["xyz"].astype(np.float32), xyz[order])
    model, _ = load_model(pose["model"] / "model.pt")
    with torch.no_grad():
        hm = model(time_major(torch.as_tensor(frames[order].astype(np.float32))))
    from evsnn.tasks.pose.data import cache_to_sensor
    from evsnn.tasks.pose.pose3d import heatmap_argmax

    uv = cache_to_sensor(heatmap_argmax(hm.numpy())[0].astype(np.float64), {"crop": json.dumps(CROP), "downsample": 8})
    np.testing.assert_array_equal(z["uv"], uv)
    P = read_projection_matrices(pose["p_matrices"])
    for j in (0, len(index) - 1):
        gu, gv, mask = project(P[2], z["xyz"][j], H=260, W=344)
        assert np.array_equal(z["true_uv"][j][mask], np.stack([gu, gv], axis=-1)[mask])
        assert np.isnan(z["true_uv"][j][~mask]).all()
    err = np.sqrt(((z["uv"] - z["true_uv"]) ** 2).sum(-1))
    assert res["mpjpe_2d_px"] == pytest.approx(np.nanmean(err)) and res["gt"] == pose["vicon"]
    df = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert np.allclose(df["mpjpe_2d_px"], np.nanmean(err, axis=1), atol=1e-3)
    # the other trained camera is predicted too (its own frames of the same preprocessing) and both triangulated
    with h5py.File(pose["cache"], "r") as h5:
        sel3 = h5["camera"][:] == 3
        frames3 = h5["frames"][:][sel3][np.argsort(h5["frame"][:][sel3])]
    with torch.no_grad():
        hm3 = model(time_major(torch.as_tensor(frames3.astype(np.float32))))
    uv3 = cache_to_sensor(heatmap_argmax(hm3.numpy())[0].astype(np.float64), {"crop": json.dumps(CROP),
                                                                             "downsample": 8})
    np.testing.assert_array_equal(z["uv_camera3"], uv3)
    from evsnn.io.dhp19 import read_camera_positions
    from evsnn.tasks.pose.pose3d import joints_last, pose_metrics

    m = pose_metrics({2: uv, 3: uv3}, z["xyz"], P, cameras=[2, 3], centres=read_camera_positions(pose["p_matrices"]),
                     per_sample=True)
    np.testing.assert_allclose(z["pred_xyz"], m["per_sample"]["pred_xyz"])
    err3 = np.sqrt(((z["pred_xyz"] - joints_last(z["xyz"])) ** 2).sum(-1))
    assert res["triangulated"] == [2, 3] and res["mpjpe_3d_mm"] == pytest.approx(np.nanmean(err3))
    assert np.allclose(df["mpjpe_3d_mm"], np.nanmean(err3, axis=1), atol=1e-3)
    # the clip: both cameras with both skeletons and their 2D errors, the 3D skeletons with the 3D error
    first = texts[0]
    assert first.count("true") == 3 and first.count("predicted") == 3, first
    for cam, e in ((2, err[0]), (3, np.sqrt(((uv3[0] - z["true_uv_camera3"][0]) ** 2).sum(-1)))):
        assert f"camera {cam}, frame {int(z['frame'][0])}, 2D MPJPE {np.nanmean(e):.1f} px" in first, first
    assert f"3D (mm), cameras 2, 3 triangulated, 3D MPJPE {np.nanmean(err3[0]):.0f} mm" in first, first
    # a Vicon file that is not one, P matrices that are not there
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"not a mat file")
    with pytest.raises(PredictError, match=r"--gt .*bad.mat: .*bad.mat") as err_:
        predict(pose["model"], pose["recording"], tmp_path / "o", gt=bad, clip=False)
    assert "\n" not in str(err_.value)
    with pytest.raises(PredictError, match=r"--calib .*nowhere is not a folder .DHP19's P_matrices folder"):
        predict(pose["model"], pose["recording"], tmp_path / "o", gt=pose["vicon"], calib=tmp_path / "nowhere")
