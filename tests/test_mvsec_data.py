"""Synthetic MVSEC tree (geometry, ground truth, timing), the MVSEC protocol, fetching and the depth frame caches."""
import json

import h5py
import numpy as np
import pytest

from evsnn import datasets
from evsnn.tasks.depth.data import (CHANNELS, VAL_BLOCK, build_depth_frames, crop_box, depth_label, depth_options,
                              prepare_mvsec, protocol_ranges, stereo_representation)
from evsnn.errors import ChecksumError, ConfigError, DataMissingError, FormatError
from evsnn.io import mvsec as mv
from evsnn.tasks.depth.synth import FB_INDOOR, Plane, write_mvsec_tree

SEQS = ("indoor_flying1", "indoor_flying2", "indoor_flying3")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A three-sequence synthetic dataset prepared through prepare_mvsec (the workflow's path)."""
    root = tmp_path_factory.mktemp("mvsec_data")
    cfg = {"source": "synthetic", "synthetic": {"duration_s": 0.8, "seed": 1}}
    manifest = prepare_mvsec("mvsec_syn", cfg, str(root / "resources"), str(root / "manifest.json"))
    return root, manifest


# ------------------------------------------------------------------------------------------ synthetic tree
def test_synthetic_tree_layout_and_dtypes(prepared):
    root, manifest = prepared
    assert manifest["kind"] == "mvsec" and manifest["synthetic"] is True
    assert [s["name"] for s in manifest["sequences"]] == list(SEQS)
    assert manifest["fB"]["indoor_flying"] == pytest.approx(FB_INDOOR)
    assert json.loads((root / "manifest.json").read_text())["digest"] == manifest["digest"]
    s = manifest["sequences"][0]
    with h5py.File(s["data"], "r") as h5:
        for cam in mv.CAMERAS:
            ev = h5[f"davis/{cam}/events"]
            assert ev.dtype == np.float64 and ev.shape[1] == 4 and ev.shape[0] > 10_000
            img_ts = h5[f"davis/{cam}/image_raw_ts"][:]
            inds = h5[f"davis/{cam}/image_raw_event_inds"][:]
            assert img_ts.dtype == np.float64 and inds.dtype == np.int64 and len(img_ts) == len(inds)
            t = ev[:, 2]
            assert np.all(np.diff(t) >= 0) and t[0] > 1.5e9  # ROS epoch seconds, sorted
            np.testing.assert_array_equal(inds, np.searchsorted(t, img_ts))
    with h5py.File(s["gt"], "r") as h5:
        d = h5["davis/left/depth_image_rect"]
        assert d.dtype == np.float32 and d.shape[1:] == (260, 346)
        assert "davis/left/depth_image_raw" in h5 and "davis/left/depth_image_raw_ts" in h5
        depth_ts = h5["davis/left/depth_image_rect_ts"][:]
    # ~20 Hz depth and ~31 Hz images, never on the same timestamp (sync by time, not by index)
    assert np.median(np.diff(depth_ts)) == pytest.approx(0.05, abs=2e-3)
    assert np.median(np.diff(img_ts)) == pytest.approx(0.032, abs=2e-3)
    assert np.min(np.abs(depth_ts[:, None] - img_ts[None, :])) >= 1.9e-3
    assert len(img_ts) != len(depth_ts)


def test_synthetic_depth_has_lidar_like_holes_and_range(prepared):
    _, manifest = prepared
    with mv.MVSECSequence(manifest["sequences"][1]["data"], manifest["sequences"][1]["gt"]) as seq:
        d = seq.depth(slice(None))
    valid = np.isfinite(d)
    assert 0.2 < valid.mean() < 0.9
    assert 0.9 <= np.nanmin(d) and np.nanmax(d) <= 8.0
    # whole missing rows inside the scene, and holes that change from map to map
    assert any((~valid[i]).all(axis=1).any() for i in range(len(d)))
    assert not np.array_equal(valid[0], valid[1])


def test_synthetic_disparity_and_exact_ground_truth(tmp_path):
    """Two planes at 2 m and 4 m: rectified right events are the left ones shifted by fB / Z, and the rectified
    depth equals the plane depth exactly (fronto-parallel) or the analytic ray-plane depth (slanted)."""
    planes = [Plane.fronto(2.0, x=-0.42, y=0.0, half_size=(0.3, 0.4), seed=1),
              Plane.fronto(4.0, x=0.8, y=0.0, half_size=(0.6, 0.8), seed=2),
              Plane.slanted(3.0, 35.0, x=0.0, y=-0.9, half_size=(0.4, 0.2), seed=3)]

    def trajectory(t):
        t = np.atleast_1d(t)
        return np.stack([0.3 * t, 0.05 * np.sin(4 * t), np.zeros_like(t)], axis=1)

    write_mvsec_tree(tmp_path, sequences=("indoor_flying1",), duration_s=0.5, planes=planes, trajectory=trajectory,
                     noise_rate=0.0, row_drop=0.0, n_holes=0.0, right_depth=True)
    data, gt = mv.sequence_files(tmp_path, "indoor_flying1")
    cal = mv.load_calibration(mv.find_calibration(tmp_path, "indoor_flying"), "indoor_flying")
    with mv.MVSECSequence(data, gt) as seq:
        ts = seq.depth_ts_us()
        i = len(ts) // 2
        depth = seq.depth(i)
        depth_r = seq.depth(i, "right")
        imgs = {}
        for cam in mv.CAMERAS:
            ev = mv.rectify_events(seq.events(cam, int(ts[i]) - 100_000, int(ts[i])), *cal.maps[cam])
            img = np.zeros((260, 346))
            np.add.at(img, (ev["y"], ev["x"]), 1.0)
            imgs[cam] = img
    for z in (2.0, 4.0):
        region = depth == np.float32(z)
        assert region.sum() > 2000  # exact depth on the fronto-parallel plane
        rows = np.flatnonzero(region.any(axis=1))
        cols = np.flatnonzero(region.any(axis=0))
        r0, r1, c0, c1 = rows[0] + 5, rows[-1] - 5, cols[0] - 3, cols[-1] + 4
        L, R = imgs["left"][r0:r1, c0:c1], imgs["right"][r0:r1, c0 - 25:c1]
        shifts = np.arange(0, 25)
        # right pixel x_r = x_l - d: compare L[:, x] with R[:, x - d]
        score = np.array([np.sum(L * R[:, 25 - s: 25 - s + L.shape[1]]) for s in shifts])
        s = int(np.argmax(score))
        a, b, c = score[s - 1], score[s], score[s + 1]
        sub = s + 0.5 * (a - c) / (a - 2 * b + c)
        assert sub == pytest.approx(FB_INDOOR / z, abs=0.5), (z, score)
        # the right camera's depth map shows the same plane shifted by the disparity
        right_region = depth_r == np.float32(z)
        assert abs(np.flatnonzero(right_region.any(axis=0)).mean() - (cols.mean() - FB_INDOOR / z)) < 1.0
    # slanted plane: z = (n . p0) / (n . ray) at every pixel it covers
    pl = planes[2]
    ys, xs = np.mgrid[0:260, 0:346]
    ray = np.stack([(xs - 173.25) / 226.38, (ys - 131.5) / 226.38, np.ones_like(xs, dtype=float)], axis=-1)
    c = trajectory(ts[i] * 1e-6 - 0.4537)[0]
    z_exact = ((pl.center - c) @ pl.normal) / (ray @ pl.normal)
    slanted = np.isfinite(depth) & (depth != np.float32(2.0)) & (depth != np.float32(4.0))
    assert slanted.sum() > 500
    np.testing.assert_allclose(depth[slanted], z_exact[slanted], rtol=1e-6)
    assert np.ptp(depth[slanted]) > 0.3


def test_synthetic_tree_is_deterministic(tmp_path):
    a = write_mvsec_tree(tmp_path / "a", sequences=("indoor_flying2",), duration_s=0.3, seed=5)
    b = write_mvsec_tree(tmp_path / "b", sequences=("indoor_flying2",), duration_s=0.3, seed=5)
    c = write_mvsec_tree(tmp_path / "c", sequences=("indoor_flying2",), duration_s=0.3, seed=6)
    ev = {}
    for k, s in (("a", a), ("b", b), ("c", c)):
        with h5py.File(s["sequences"]["indoor_flying2"]["data"], "r") as h5:
            ev[k] = h5["davis/left/events"][:]
    np.testing.assert_array_equal(ev["a"], ev["b"])
    assert ev["a"].shape != ev["c"].shape or not np.array_equal(ev["a"], ev["c"])


# ---------------------------------------------------------------------------------------------- protocol
def test_split_protocols_and_ranges():
    assert datasets.mvsec_split(1) == {"train": ("indoor_flying2", "indoor_flying3"), "test": ("indoor_flying1",)}
    assert datasets.mvsec_split(3) == {"train": ("indoor_flying1", "indoor_flying2"), "test": ("indoor_flying3",)}
    with pytest.raises(ConfigError, match="known splits: 1, 2, 3"):
        datasets.mvsec_split(4)
    opts = depth_options({"T": 5})
    assert protocol_ranges("indoor_flying1", "test", 1399, opts, synthetic=False) == (140, 1201)
    assert protocol_ranges("indoor_flying3", "train", 2000, opts, synthetic=False) == (125, 1815)
    assert protocol_ranges("indoor_flying2", "train", 1000, opts, synthetic=False) == (160, 1000)  # clipped
    assert protocol_ranges("indoor_flying1", "test", 40, opts, synthetic=True) == (4, 36)
    frac = depth_options({"T": 5, "mvsec": {"range_fraction": [0.25, 0.5]}})
    assert protocol_ranges("indoor_flying1", "test", 40, frac, synthetic=True) == (10, 20)
    assert protocol_ranges("indoor_flying1", "test", 40, depth_options({"T": 5, "mvsec": {"ranges": "all"}}),
                           synthetic=True) == (0, 40)


def test_options_and_crop():
    o = depth_options({"T": 4, "downsample": 2, "mvsec": {"window_ms": 50, "representation": "voxel"}})
    assert (o["bin_us"], o["window_us"], o["representation"], o["split"]) == (12500, 50000, "voxel", 1)
    assert depth_options({"T": 3, "window_ms": 10})["window_us"] == 9999  # T bins of floor(window / T)
    assert crop_box(None) == (0, 0, 260, 346)
    assert crop_box([256, 344], downsample=4) == (2, 1, 256, 344)
    assert crop_box([10, 20, 100, 200]) == (10, 20, 100, 200)
    with pytest.raises(ConfigError, match=r"downsample = 4 must divide the cropped size 260 x 346.*crop: \[260, 344\]"):
        crop_box(None, downsample=4)
    with pytest.raises(ConfigError, match="must fit"):
        crop_box([300, 346])
    with pytest.raises(ConfigError, match="representation"):
        depth_options({"T": 2, "mvsec": {"representation": "image"}})


def test_depth_label_downsampling_propagates_nan():
    d = np.array([[1.0, np.nan, 2.0, 2.0, np.nan, np.nan],
                  [3.0, np.nan, 2.0, 9.0, np.nan, -1.0],
                  [4.0, 4.0, 0.0, 5.0, 7.0, np.nan],
                  [4.0, 4.0, 6.0, np.nan, np.nan, np.nan]], dtype=np.float32)
    box = (0, 0, 4, 6)
    out = depth_label(d, box, 2, max_depth=8.0)
    want = np.array([[2.0, 2.0, np.nan], [4.0, 5.5, 7.0]], dtype=np.float32)
    np.testing.assert_array_equal(out, want)  # 9 > max_depth, 0 and -1 invalid, all-NaN block -> NaN
    full = depth_label(d, box, 1)
    assert np.isnan(full[2, 2]) and np.isnan(full[1, 5]) and full[1, 3] == 9.0
    np.testing.assert_array_equal(depth_label(d, (1, 2, 2, 2), 1), [[2.0, 9.0], [np.nan, 5.0]])


def test_stereo_representation_channel_order_and_windows():
    ev = np.zeros(6, dtype=mv.EVENT_DTYPE)
    ev["x"] = [0, 1, 2, 3, 3, 3]
    ev["y"] = [0, 0, 1, 1, 1, 1]
    ev["t"] = [999, 1000, 1500, 2999, 3000, 3001]  # 999 and 3000+ fall outside [1000, 3000)
    ev["p"] = [1, 1, 0, 1, 0, 0]
    right = ev[[1, 2]].copy()
    right["x"] += 1
    opts = depth_options({"T": 2, "mvsec": {"window_ms": 2.0}})
    f = stereo_representation(ev, right, 3000, opts, box=(0, 0, 2, 4))
    assert f.shape == (2, 4, 2, 4)
    assert f[0, 1, 0, 1] == 1 and f[0, 0, 1, 2] == 1 and f[1, 1, 1, 3] == 1 and f.sum() == 5
    assert f[0, 3, 0, 2] == 1 and f[0, 2, 1, 3] == 1  # right ON, right OFF
    vox = stereo_representation(ev, right, 3000, {**opts, "representation": "voxel"}, box=(0, 0, 2, 4))
    assert vox.dtype == np.float32
    np.testing.assert_allclose(vox.sum(axis=0), f.sum(axis=0), atol=1e-6)  # each event's weight sums to 1
    assert vox[0, 1, 0, 1] == pytest.approx(1.0) and vox[1, 1, 1, 3] == pytest.approx(1.0)  # window edges
    assert vox[0, 0, 1, 2] == pytest.approx(0.75, abs=1e-3) and vox[1, 0, 1, 2] == pytest.approx(0.25, abs=1e-3)


# ------------------------------------------------------------------------------------------ frame caches
def test_build_depth_frames_split1(prepared, tmp_path):
    root, manifest = prepared
    cfg = {"dataset": "mvsec_syn", "T": 4, "downsample": 2, "mvsec": {"window_ms": 40, "crop": [256, 344]}}
    out = build_depth_frames(manifest, cfg, str(tmp_path / "train.h5"), str(tmp_path / "test.h5"))
    n_maps = {s["name"]: s["depth_maps"] for s in manifest["sequences"]}
    per = {k: int(round(0.9 * v)) - int(round(0.1 * v)) for k, v in n_maps.items()}
    assert out["samples"] == {"train": per["indoor_flying2"] + per["indoor_flying3"], "test": per["indoor_flying1"]}
    with h5py.File(tmp_path / "train.h5", "r") as h5:
        assert h5["frames"].shape == (out["samples"]["train"], 4, 4, 128, 172) and h5["frames"].dtype == np.uint16
        assert h5["labels"].shape == (out["samples"]["train"], 128, 172) and h5["labels"].dtype == np.float32
        trials = [t.decode() if isinstance(t, bytes) else t for t in h5["trials"][:]]
        # trials are blocks of VAL_BLOCK consecutive depth maps of a sequence (validation takes whole blocks)
        assert sorted({t.split("/")[0] for t in trials}) == ["indoor_flying2", "indoor_flying3"]
        blocks = h5["depth_index"][:] // VAL_BLOCK
        assert all(trials[tr].endswith(f"/{b:04d}") for tr, b in zip(h5["trial"][:], blocks))
        a = dict(h5.attrs)
        assert a["fB"] == pytest.approx(FB_INDOOR / 2) and a["fB_sensor"] == pytest.approx(FB_INDOOR)
        assert a["channels"] == ",".join(CHANNELS) and a["T"] == 4 and a["window_us"] == 40_000
        assert json.loads(a["crop"]) == [2, 1, 256, 344] and a["split"] == 1 and a["representation"] == "counts"
        assert 0.9 < a["depth_min"] < a["depth_max"] <= 8.0
        proto = json.loads(a["protocol"])
        assert proto["test"] == {"indoor_flying1": [int(round(0.1 * n_maps["indoor_flying1"])),
                                                    int(round(0.9 * n_maps["indoor_flying1"]))]}
        labels = h5["labels"][:]
        assert np.isnan(labels).any() and np.isfinite(labels).mean() > 0.2
        j = 3
        frames = h5["frames"][j]
        seq_name = trials[h5["trial"][j]].split("/")[0]
        idx, t_us = int(h5["depth_index"][j]), int(h5["timestamp_us"][j])
        np.testing.assert_array_equal(h5["window"][j], [t_us - 40_000, t_us])
    entry = next(s for s in manifest["sequences"] if s["name"] == seq_name)
    cal = mv.load_calibration(manifest["calibration"]["indoor_flying"], "indoor_flying")
    with mv.MVSECSequence(entry["data"], entry["gt"]) as seq:
        assert seq.depth_ts_us()[idx] == t_us
        # the label: left rectified depth, cropped, mean over 2 x 2 valid pixels
        np.testing.assert_array_equal(labels[j], depth_label(seq.depth(idx), (2, 1, 256, 344), 2))
        # the channels, recomputed independently: [left OFF, left ON, right OFF, right ON], 10 ms bins
        for ci, cam in enumerate(mv.CAMERAS):
            ev = mv.rectify_events(seq.events(cam, t_us - 40_000, t_us), *cal.maps[cam])
            want = np.zeros((4, 2, 128, 172), dtype=np.int64)
            x, y = ev["x"].astype(int) - 1, ev["y"].astype(int) - 2
            ok = (x >= 0) & (x < 344) & (y >= 0) & (y < 256)
            b = (ev["t"].astype(np.int64) - (t_us - 40_000)) // 10_000
            np.add.at(want, (b[ok], (ev["p"][ok] != 0).astype(int), y[ok] // 2, x[ok] // 2), 1)
            np.testing.assert_array_equal(frames[:, 2 * ci: 2 * ci + 2], want)
    assert frames[:, :2].sum() > 500 and frames[:, 2:].sum() > 500
    assert not np.array_equal(frames[:, :2], frames[:, 2:])


def test_build_depth_frames_split3_voxel_stride_and_max_depth(prepared, tmp_path):
    _, manifest = prepared
    cfg = {"T": 3, "mvsec": {"split": 3, "representation": "voxel", "stride": 2, "max_depth": 4.0,
                             "ranges": "all", "crop": [0, 0, 200, 300]}}
    out = build_depth_frames(manifest, cfg, str(tmp_path / "tr.h5"), str(tmp_path / "te.h5"))
    n = {s["name"]: s["depth_maps"] for s in manifest["sequences"]}
    half = {k: (v + 1) // 2 for k, v in n.items()}
    assert out["samples"] == {"train": half["indoor_flying1"] + half["indoor_flying2"], "test": half["indoor_flying3"]}
    with h5py.File(tmp_path / "te.h5", "r") as h5:
        assert h5["frames"].dtype == np.float32 and h5["frames"].shape[1:] == (3, 4, 200, 300)
        assert np.all(np.diff(h5["depth_index"][:]) == 2)
        assert np.nanmax(h5["labels"][:]) <= 4.0 and h5.attrs["max_depth"] == 4.0
        assert h5.attrs["split"] == 3 and h5.attrs["fB"] == pytest.approx(FB_INDOOR)
        assert h5["frames"][1].min() >= 0 and h5["frames"][1].sum() > 100


def test_build_needs_the_split_sequences(prepared, tmp_path):
    _, manifest = prepared
    small = {**manifest, "sequences": [s for s in manifest["sequences"] if s["name"] != "indoor_flying3"]}
    with pytest.raises(DataMissingError, match="split 1 needs indoor_flying3"):
        build_depth_frames(small, {"T": 2}, str(tmp_path / "a.h5"), str(tmp_path / "b.h5"))
    with pytest.raises(DataMissingError, match="no train samples"):
        build_depth_frames(manifest, {"T": 2, "mvsec": {"ranges": "official"}}, str(tmp_path / "a.h5"),
                           str(tmp_path / "b.h5"))
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "b.h5").exists()


# -------------------------------------------------------------------------------------------- preparing
def test_prepare_local_missing_and_bad_inputs(prepared, tmp_path):
    import shutil

    root, manifest = prepared
    out = str(tmp_path / "m.json")
    with pytest.raises(DataMissingError, match=r"does not exist.*indoor_flying1_data\.hdf5.*drive\.google\.com"):
        prepare_mvsec("m", {"source": "local", "path": str(tmp_path / "nowhere")}, str(tmp_path), out)
    local = tmp_path / "local"
    shutil.copytree(manifest["root"], local)
    m = prepare_mvsec("m", {"source": "local", "path": str(local)}, str(tmp_path), out)
    assert m["source"] == "local" and m["synthetic"] is False and len(m["sequences"]) == 3
    gt2 = local / "indoor_flying" / "indoor_flying2_gt.hdf5"
    gt2.rename(tmp_path / "gt2.hdf5")
    with pytest.raises(DataMissingError, match=r"indoor_flying2_gt\.hdf5.*drive\.google\.com.*" + str(local)):
        prepare_mvsec("m", {"source": "local", "path": str(local)}, str(tmp_path), out)
    (tmp_path / "gt2.hdf5").rename(gt2)
    # a calibration of another resolution
    y = local / "indoor_flying" / "indoor_flying_calib" / "camchain-imucam-indoor_flying.yaml"
    y.write_text(y.read_text().replace("resolution: [346, 260]", "resolution: [240, 180]"))
    with pytest.raises(FormatError, match=r"camchain-imucam-indoor_flying\.yaml.*\[240, 180\].*indoor_flying1_data"):
        prepare_mvsec("m", {"source": "local", "path": str(local)}, str(tmp_path), out)
    shutil.rmtree(local / "indoor_flying" / "indoor_flying_calib")
    with pytest.raises(DataMissingError, match=r"indoor_flying_calib\.zip"):
        prepare_mvsec("m", {"source": "local", "path": str(local)}, str(tmp_path), out)


def test_fetch_mvsec_from_a_mirror_records_sha256_and_extracts_calibration(prepared, tmp_path):
    import zipfile

    _, manifest = prepared
    src = manifest["root"]
    mirror = tmp_path / "mirror" / "indoor_flying"
    mirror.mkdir(parents=True)
    import shutil

    seq = "indoor_flying1"
    for kind in ("data", "gt"):
        shutil.copy(f"{src}/indoor_flying/{seq}_{kind}.hdf5", mirror)
    with zipfile.ZipFile(mirror / "indoor_flying_calib.zip", "w") as zf:
        for name in mv.calib_file_names("indoor_flying"):
            zf.write(f"{src}/indoor_flying/indoor_flying_calib/{name}", name)
    base = (tmp_path / "mirror").as_uri() + "/"
    out = datasets.fetch_mvsec(tmp_path / "dl", [seq], urls=[base], progress=False, retries=0)
    assert out == tmp_path / "dl" / "download"
    rec = json.loads((out / "mvsec_sha256.json").read_text())
    assert set(rec) == {"indoor_flying_calib.zip", f"{seq}_data.hdf5", f"{seq}_gt.hdf5"}
    assert mv.find_calibration(out, "indoor_flying") == out / "indoor_flying" / "indoor_flying_calib"
    assert mv.sequence_files(out, seq)[0] == out / "indoor_flying" / f"{seq}_data.hdf5"
    # a second call verifies the recorded sha256: a corrupted file is caught
    data = out / "indoor_flying" / f"{seq}_data.hdf5"
    data.write_bytes(data.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ChecksumError, match=f"{seq}_data.hdf5"):
        datasets.fetch_mvsec(tmp_path / "dl", [seq], allow_download=False, progress=False)
    # files that cannot be fetched: one message naming them, the Google-Drive folder and the folder to use
    with pytest.raises(DataMissingError) as exc:
        datasets.fetch_mvsec(tmp_path / "dl2", ["indoor_flying2"], urls=[base], progress=False, retries=0)
    msg = str(exc.value)
    assert "indoor_flying2_data.hdf5" in msg and "indoor_flying2_gt.hdf5" in msg
    assert datasets.MVSEC_HDF5_DRIVE in msg and str(tmp_path / "dl2" / "download" / "indoor_flying") in msg
