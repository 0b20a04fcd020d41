"""HAS frame caches (frames dhp19.representation: has) from the synthetic DHP19 tree."""
import math

import h5py
import numpy as np
import pytest

from evsnn.errors import DataMissingError
from evsnn.io.dhp19 import CAMERA_TO_CHANNEL, read_projection_matrices, read_vicon
from evsnn.tasks.pose import has_data as hd
from evsnn.tasks.pose.data import build_pose_frames, prepare_dhp19


def test_stacked_histogram_spans_first_to_last_event():
    # HAS StackedHistogram: the bins divide [t_first, t_last], polarity-major before the transpose
    x = np.array([0, 1, 2, 3]); y = np.array([0, 0, 1, 1]); p = np.array([0, 1, 1, 0])
    t = np.array([1000, 1500, 1999, 3000])
    h = hd.stacked_histogram(x, y, p, t, 4, 2, 4)
    assert h.shape == (4, 2, 2, 4)
    assert h[0, 0, 0, 0] == 1 and h[1, 1, 0, 1] == 1   # (t - t0) / 2000 * 4 = 0, 1
    assert h[1, 1, 1, 2] == 1                           # 999 / 2000 * 4 = 1.998 -> bin 1
    assert h[3, 0, 1, 3] == 1                           # the last event: bin 4 clamped to 3
    assert h.sum() == 4
    assert hd.stacked_histogram([5], [1], [1], [7], 3, 2, 8)[0, 1, 1, 5] == 1   # one event: bin 0


def test_project_crop_truncates_and_masks():
    P = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1.0]])   # u = X, v = 260 - Y
    xyz = np.zeros((1, 3, 3))
    xyz[0, :, 0] = [100.7, 260 - 50.9, 0]     # u 100.7 -> 66, v 50.9 -> 48
    xyz[0, :, 1] = [33.9, 100, 0]             # u < 34: outside the crop
    xyz[0, :, 2] = [289.99, 260 - 257.5, 0]   # last column and row inside
    uv = hd.project_crop(P, xyz)
    assert uv[0, :, 0].tolist() == [66.0, 48.0]
    assert np.isnan(uv[0, :, 1]).all()
    assert uv[0, :, 2].tolist() == [255.0, 255.0]


@pytest.fixture(scope="module")
def has_caches(tmp_path_factory):
    from evsnn.tasks.pose.synth import write_dhp19_tree

    root = tmp_path_factory.mktemp("dhp19")
    write_dhp19_tree(root, subjects=(1, 13), sessions=(1,), movements=(1,), duration_s=1.0, pathologies={})
    manifest = prepare_dhp19("d", {"source": "local", "path": str(root)}, str(root / "data"),
                             str(root / "manifest.json"))
    frames = {"T": 1, "downsample": 1, "dhp19": {"representation": "has", "cameras": [2, 3],
                                                  "has": {"cnn_events": 1000}}}
    build_pose_frames(manifest, frames, str(root / "train.h5"), str(root / "test.h5"))
    return manifest, root


def test_cache_layout(has_caches):
    manifest, root = has_caches
    with h5py.File(root / "train.h5") as tr, h5py.File(root / "test.h5") as te:
        assert tr["frames"].shape[1:] == (30, 2, 256, 256) and tr["labels"].shape[1:] == (11, 2, 13)
        assert te["frames"].shape[1:] == (40, 2, 256, 256) and te["labels"].shape[1:] == (21, 2, 13)
        assert set(tr["subject"][:]) == {1} and set(te["subject"][:]) == {13}
        assert tr.attrs["representation"] == "has" and te.attrs["window_ms"] == 200
        assert set(tr["camera"][:]) == {2, 3}
        assert np.all(np.diff(tr["start_ms"][:][tr["camera"][:] == 2]) == 100)


def test_samples_match_the_events(has_caches):
    """Camera 2 is aedat channel 3; the SNN bins hold exactly the window's events inside the crop; the CNN input
    holds the 1,000 events before the window; labels are the Vicon samples ms/10 - 1, ms/10, ..."""
    from evsnn.io.aedat2 import read_aedat2
    from evsnn.io.dhp19 import recording_window, select_window

    manifest, root = has_caches
    rec = next(r for r in manifest["recordings"] if r["subject"] == 1)
    events, header = read_aedat2(rec["aedat"], layout="davis346", dhp19=True)
    xyz = read_vicon(rec["vicon"])
    start, stop, _ = recording_window(header["special_timestamps"], events["t"], xyz.shape[0], rec["aedat"])
    ev = events[select_window(events["t"], start, stop, rec["aedat"])]
    ev = ev[ev["c"] == CAMERA_TO_CHANNEL[2]]
    t = ev["t"].astype(np.int64) - start
    row, col = 259 - ev["y"].astype(int), 345 - ev["x"].astype(int)
    inside = (row >= 2) & (row < 258) & (col >= 34) & (col < 290)
    with h5py.File(root / "train.h5") as h5:
        i = int(np.flatnonzero(h5["camera"][:] == 2)[0])
        frames, labels, ms = h5["frames"][i].astype(np.int64), h5["labels"][i], int(h5["start_ms"][i])
    assert ms == math.ceil(t[1000] / 1e3 / 100) * 100
    in_window = (t >= ms * 1000) & (t < (ms + 100) * 1000)
    assert frames[20:].sum() == np.count_nonzero(in_window & inside)
    assert frames[20:, 1].sum() == np.count_nonzero(in_window & inside & (ev["p"] == 1))
    before = np.flatnonzero(t < ms * 1000)[-1000:]
    assert frames[:10].sum() == np.count_nonzero(inside[before])
    P = read_projection_matrices(manifest["p_matrices"])[2]
    k0 = ms // 10
    want = hd.project_crop(P, xyz[[k0 - 1] + list(range(k0, k0 + 10))])
    np.testing.assert_array_equal(labels, want.astype(np.float32))


def test_missing_camera_one_sentence():
    ev = np.zeros(3, dtype=[("x", "u2"), ("y", "u2"), ("t", "i8"), ("p", "u1"), ("c", "u1")])
    ev["c"] = CAMERA_TO_CHANNEL[2]
    with pytest.raises(DataMissingError, match="has no events of camera 4 \\(aedat channel 0\\)"):
        hd.camera_events(ev, 4, 0, "S1_session1_mov1")
