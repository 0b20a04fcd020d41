"""evsnn.io.mvsec: streaming readers, calibration, rectification, time matching, errors naming the file."""
import shutil

import h5py
import numpy as np
import pytest

from evsnn.errors import DataMissingError, FormatError
from evsnn.io import mvsec as mv
from evsnn.tasks.depth.synth import FB_INDOOR, START_FRACTION_US, write_mvsec_tree

SEQ = "indoor_flying1"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mvsec")
    summary = write_mvsec_tree(root, sequences=(SEQ,), duration_s=0.6, seed=3)
    return root, summary


@pytest.fixture
def files(tree):
    root, _ = tree
    return mv.sequence_files(root, SEQ)


def _raw(path, camera):
    with h5py.File(path, "r") as h5:
        return h5[f"davis/{camera}/events"][:]


# ----------------------------------------------------------------------------------------------- reading
def test_roundtrip_matches_raw_rows(tree, files):
    root, summary = tree
    data, gt = files
    with mv.MVSECSequence(data, gt) as seq:
        assert seq.origin_s == summary["sequences"][SEQ]["origin_s"]
        assert seq.size == (260, 346)
        for cam in mv.CAMERAS:
            raw = _raw(data, cam)
            ev = seq.events(cam)
            assert ev.dtype == mv.EVENT_DTYPE and len(ev) == len(raw) == summary["sequences"][SEQ]["events"][cam]
            np.testing.assert_array_equal(ev["x"], raw[:, 0])
            np.testing.assert_array_equal(ev["y"], raw[:, 1])
            np.testing.assert_array_equal(ev["p"], (raw[:, 3] > 0).astype(np.int8))
            assert set(np.unique(raw[:, 3])) <= {-1.0, 1.0}
            # whole microseconds after the origin; the synthetic sequence starts START_FRACTION_US after it
            np.testing.assert_allclose(ev["t"], (raw[:, 2] - seq.origin_s) * 1e6, atol=0.3)
            assert ev["t"][0] >= START_FRACTION_US and np.all(np.diff(ev["t"]) >= 0)
        ts = seq.depth_ts_us()
        d = seq.depth(slice(0, 2))
        assert d.shape == (2, 260, 346) and d.dtype == np.float32
        assert np.isnan(d).any() and np.nanmin(d) > 0
        assert ts.dtype == np.int64 and np.all(np.diff(ts) > 0)


def test_chunked_reading_equals_whole_and_never_reads_everything(files, monkeypatch):
    data, _ = files
    whole = _raw(data, "left")
    n = len(whole)
    assert n > 20_000
    reads = []
    orig = h5py.Dataset.__getitem__

    def spy(self, args):
        out = orig(self, args)
        if self.name.endswith("/events"):
            reads.append(np.size(out) if np.ndim(out) < 2 else out.shape[0])
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    origin = mv.sequence_origin(data)
    chunks = list(mv.iter_event_chunks(data, "left", chunk=1000))
    assert len(chunks) >= n // 1000 and max(len(c) for c in chunks) <= 1000
    allev = np.concatenate(chunks)
    assert len(allev) == n
    t_all = allev["t"]
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = np.sort(rng.integers(int(t_all[0]) - 1000, int(t_all[-1]) + 1000, 2))
        reads.clear()
        win = mv.read_events_window(data, "left", int(a), int(b), chunk=1000, origin_s=origin)
        np.testing.assert_array_equal(win, allev[(t_all >= a) & (t_all < b)])
        assert reads and max(reads) <= 1000  # every read is at most one chunk of rows
    # a window that ends exactly on an event time excludes it, one that starts there includes it
    t_mid = int(t_all[n // 2])
    w = mv.read_events_window(data, "left", t_mid, t_mid + 1, chunk=1000, origin_s=origin)
    assert len(w) == np.count_nonzero(t_all == t_mid)
    assert len(mv.read_events_window(data, "left", t_mid - 5000, t_mid, chunk=1000, origin_s=origin)) == \
        np.count_nonzero((t_all >= t_mid - 5000) & (t_all < t_mid))


def test_search_time_with_and_without_hints(files):
    data, _ = files
    t = _raw(data, "right")[:, 2]
    with h5py.File(data, "r") as h5:
        ds = h5["davis/right/events"]
        rng = np.random.default_rng(1)
        probes = np.concatenate([rng.choice(t, 30), rng.uniform(t[0] - 1, t[-1] + 1, 30), [t[0], t[-1]]])
        for v in probes:
            for side in ("left", "right"):
                want = int(np.searchsorted(t, v, side=side))
                assert mv.search_time(ds, v, side, chunk=500) == want
                for hint in (0, want, max(0, want - 3000), min(len(t) - 1, want + 7000), len(t) - 1):
                    assert mv.search_time(ds, v, side, chunk=500, hint=hint) == want


def test_sequence_cursor_reads_in_any_order(files):
    data, gt = files
    with mv.MVSECSequence(data, gt, chunk=2000) as seq:
        allev = seq.events("left")
        t = allev["t"]
        ts = seq.depth_ts_us()
        for d in list(ts) + list(ts[::-1]):  # forwards (galloping from the last window), then backwards
            w = seq.events("left", int(d) - 50_000, int(d))
            np.testing.assert_array_equal(w, allev[(t >= d - 50_000) & (t < d)])


# --------------------------------------------------------------------------------------- time matching
def test_depth_windows_are_matched_by_time_not_by_image_index(tmp_path):
    # events every ms; images at ~31 Hz with their event indices; depth at ~20 Hz between image times
    t_us = np.arange(0, 300_000, 1000)
    image_us = np.array([16_100, 48_100, 80_100, 112_100, 144_100, 176_100, 208_100, 240_100, 272_100])
    depth_us = np.array([37_300, 87_300, 137_300, 187_300, 237_300, 287_300])
    i0, i1 = mv.match_event_windows(t_us, depth_us, 30_000)
    # [7300, 37300) holds t = 8000 ... 37000: indices 8 ... 37
    np.testing.assert_array_equal(i0, [8, 58, 108, 158, 208, 258])
    np.testing.assert_array_equal(i1, [38, 88, 138, 188, 238, 288])
    np.testing.assert_array_equal(mv.depth_event_windows(depth_us, 30_000)[1], [57_300, 87_300])
    # the image nearest to each depth map: by time (depth k is not image k)
    np.testing.assert_array_equal(mv.match_nearest(image_us, depth_us), [1, 2, 4, 5, 7, 8])

    # the same through an MVSEC-style file: windows read by time from the file give exactly these events
    origin = 1_500_000_000.0
    path = tmp_path / "hand_data.hdf5"
    with h5py.File(path, "w") as h5:
        for cam in mv.CAMERAS:
            ev = np.stack([t_us % 346, (t_us // 1000) % 260, origin + t_us * 1e-6,
                           np.where(t_us % 3000 == 0, 1.0, -1.0)], axis=1)
            h5.create_dataset(f"davis/{cam}/events", data=ev, chunks=(16, 4))
            h5.create_dataset(f"davis/{cam}/image_raw_ts", data=origin + image_us * 1e-6)
            h5.create_dataset(f"davis/{cam}/image_raw_event_inds", data=np.searchsorted(t_us, image_us))
    assert mv.sequence_origin(path) == origin
    for d, a, b in zip(depth_us, i0, i1):
        w = mv.read_events_window(path, "left", int(d) - 30_000, int(d), chunk=7)
        np.testing.assert_array_equal(w["t"], t_us[a:b])
    ts, inds = mv.read_image_timestamps(path)
    np.testing.assert_array_equal(inds, [17, 49, 81, 113, 145, 177, 209, 241, 273])
    np.testing.assert_array_equal(mv.to_us(ts, origin), image_us)


# ------------------------------------------------------------------------------------------ rectification
def test_rectify_events_on_a_hand_built_map():
    H, W = 3, 4
    x_map = np.array([[0.4, 1.6, 2.5, 3.49], [-0.6, 1.0, np.nan, 3.51], [0.0, 1.2, 2.2, 3.0]], dtype=np.float32)
    y_map = np.array([[0.2, 0.6, 1.4, 2.49], [1.0, 1.0, 1.0, 1.0], [2.6, 1.9, -0.2, 2.0]], dtype=np.float32)
    ev = mv.EVENT_DTYPE
    events = np.zeros(12, dtype=ev)
    events["x"] = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]
    events["y"] = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    events["t"] = np.arange(12)
    events["p"] = [1, 0] * 6
    out = mv.rectify_events(events, x_map, y_map)
    # dropped: (0,1) -> x -0.6 rounds to -1; (2,1) NaN; (3,1) x 3.51 -> 4 >= W; (0,2) y 2.6 -> 3 >= H;
    # (2,2) y -0.2 -> 0 is kept (rounds into the frame)
    np.testing.assert_array_equal(out["t"], [0, 1, 2, 3, 5, 9, 10, 11])
    np.testing.assert_array_equal(out["x"], [0, 2, 2, 3, 1, 1, 2, 3])
    np.testing.assert_array_equal(out["y"], [0, 1, 1, 2, 1, 2, 0, 2])
    np.testing.assert_array_equal(out["p"], events["p"][[0, 1, 2, 3, 5, 9, 10, 11]])
    assert out.dtype == ev
    # raw pixels outside the maps are dropped too
    far = np.zeros(1, dtype=ev)
    far["x"] = W
    assert len(mv.rectify_events(far, x_map, y_map)) == 0


def test_calibration_of_the_synthetic_tree(tree):
    root, _ = tree
    folder = mv.find_calibration(root, "indoor_flying")
    cal = mv.load_calibration(folder, "indoor_flying", size=(260, 346))
    assert cal.fB == pytest.approx(FB_INDOOR) and cal.resolution == (346, 260)
    assert cal.left.distortion_model == "equidistant" and cal.left.distortion_coeffs.shape == (4,)
    assert cal.left.projection_matrix.shape == (3, 4) and cal.right.rectification_matrix.shape == (3, 3)
    xm, ym = cal.maps["left"]
    assert xm.shape == (260, 346) and xm.dtype == np.float32
    ys, xs = np.mgrid[0:260, 0:346]
    shift = np.hypot(xm - xs, ym - ys)
    assert 0.5 < shift.max() < 12 and shift.min() < 3  # non-trivial but mild distortion + rectification
    # the maps are smooth (monotone along rows and columns)
    assert np.all(np.diff(xm, axis=1) > 0) and np.all(np.diff(ym, axis=0) > 0)


# ----------------------------------------------------------------------------------------------- errors
def test_missing_sequence_file_says_what_where_and_from_where(tmp_path):
    with pytest.raises(DataMissingError) as exc:
        mv.sequence_files(tmp_path, "indoor_flying2")
    msg = str(exc.value)
    assert "indoor_flying2_data.hdf5" in msg and "indoor_flying2_gt.hdf5" in msg
    assert "drive.google.com" in msg and "visiondata.cis.upenn.edu/mvsec/indoor_flying/indoor_flying2_data.hdf5" in msg
    assert str(tmp_path) in msg
    with pytest.raises(DataMissingError, match=r"indoor_flying_calib\.zip.*" + str(tmp_path)):
        mv.find_calibration(tmp_path, "indoor_flying")


def test_truncated_or_foreign_hdf5_names_the_file(tree, files, tmp_path):
    data, gt = files
    cut = tmp_path / "indoor_flying1_data.hdf5"
    blob = data.read_bytes()
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(FormatError, match=r"indoor_flying1_data\.hdf5.*truncated or corrupt"):
        mv.MVSECSequence(cut, gt)
    junk = tmp_path / "junk_data.hdf5"
    junk.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(FormatError, match="junk_data.hdf5"):
        mv.open_hdf5(junk, "data")
    other = tmp_path / "other_data.hdf5"
    with h5py.File(other, "w") as h5:
        h5.create_dataset("davis/left/image_raw_ts", data=np.arange(3.0))
    with pytest.raises(FormatError, match=r"other_data\.hdf5.*/davis/left/events"):
        mv.MVSECSequence(other)
    with pytest.raises(FormatError, match=r"indoor_flying1_data\.hdf5.*no dataset /davis/left/depth_image_rect"):
        mv.MVSECSequence(data, data)  # the data file given as gt


def test_gt_that_does_not_overlap_the_data_names_the_gt_file(files, tmp_path):
    data, gt = files
    bad = tmp_path / "indoor_flying1_gt.hdf5"
    shutil.copy(gt, bad)
    with h5py.File(bad, "r+") as h5:
        h5["davis/left/depth_image_rect_ts"][...] += 3600.0
    with pytest.raises(FormatError, match=r"indoor_flying1_gt\.hdf5.*do not overlap.*different sequences"):
        mv.MVSECSequence(data, bad)


def test_calibration_of_another_camera_names_the_file(tree, tmp_path):
    root, _ = tree
    src = mv.find_calibration(root, "indoor_flying")
    for case in ("yaml", "map"):
        dst = tmp_path / case
        shutil.copytree(src, dst)
        if case == "yaml":
            y = dst / "camchain-imucam-indoor_flying.yaml"
            y.write_text(y.read_text().replace("resolution: [346, 260]", "resolution: [640, 480]"))
            with pytest.raises(FormatError, match=r"camchain-imucam-indoor_flying\.yaml.*cam0\.resolution is "
                                                  r"\[640, 480\].*346 x 260"):
                mv.load_calibration(dst, "indoor_flying", size=(260, 346), data_path="seq_data.hdf5")
        else:
            m = dst / "indoor_flying_right_y_map.txt"
            m.write_text("\n".join(m.read_text().splitlines()[:-1]) + "\n")  # 259 rows
            with pytest.raises(FormatError, match=r"indoor_flying_right_y_map\.txt.*259 rows x 346 columns"):
                mv.load_calibration(dst, "indoor_flying", size=(260, 346))
    # a yaml without cam1's projection matrix
    y = tmp_path / "yaml" / "camchain-imucam-indoor_flying.yaml"
    y.write_text(y.read_text().replace("projection_matrix", "projection_matrx"))
    with pytest.raises(FormatError, match=r"camchain-imucam-indoor_flying\.yaml: cam0\.projection_matrix is missing"):
        mv.read_camchain(y)


def test_event_outside_the_sensor_names_file_and_row(tmp_path):
    path = tmp_path / "bad_data.hdf5"
    ev = np.array([[1, 1, 100.0, 1], [2, 2, 100.1, -1], [400, 2, 100.2, 1]], dtype=np.float64)
    with h5py.File(path, "w") as h5:
        for cam in mv.CAMERAS:
            h5.create_dataset(f"davis/{cam}/events", data=ev)
    with pytest.raises(FormatError, match=r"bad_data\.hdf5.*/davis/left/events row 2: pixel \(400.0, 2.0\)"):
        mv.read_events_window(path, "left")


def test_io_info_sniffs_mvsec(files):
    from evsnn import io as evio

    data, _ = files
    out = evio.info(data)
    assert out["format"] == "MVSEC HDF5" and out["resolution"] == [346, 260]
    assert out["events"] == sum(out["cameras"].values()) and out["timestamps_monotonic"]
