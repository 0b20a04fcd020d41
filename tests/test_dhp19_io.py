"""DHP19 raw data: start/stop rules, Vicon .mat, projection matrices, the file tree, the synthetic tree."""
from __future__ import annotations

import numpy as np
import pytest

from evsnn.errors import DataMissingError, EvsnnError, FormatError
from evsnn.io import dhp19
from evsnn.io.dhp19 import (CorruptRecordingError, list_recordings, read_camera_positions, read_projection_matrices,
                            read_vicon, recording_window, select_window, window_mask, write_vicon)

N_VICON = 30  # n = 300,000 µs
EV = np.arange(1_000_000, 2_000_001, 100_000)  # 1.0 s .. 2.0 s, sorted


# --------------------------------------------------------------------------------------------------
# start / stop rules (Generate_DHP19.m)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("specials", [None, np.array([], dtype=np.int64)])
def test_no_special_field_uses_first_and_last_event(specials):
    ev = np.array([1_500_000, 1_000_000, 2_000_000, 1_200_000])  # first/last, not min/max
    start, stop, rule = recording_window(specials, ev, N_VICON, "S14/session5/mov3.aedat")
    assert (start, stop) == (1_500_000, 1_200_000)
    assert "first/last" in rule


def test_empty_special_field_is_an_error():
    with pytest.raises(FormatError, match="special .*empty") as exc:
        recording_window(np.array([], dtype=np.int64), EV, N_VICON, "rec.aedat", has_special_field=True)
    assert "rec.aedat" in str(exc.value)


def test_one_special_closer_to_end_or_start():
    assert recording_window([1_900_000], EV, N_VICON)[:2] == (1_600_000, 1_900_000)
    assert recording_window([1_100_000], EV, N_VICON)[:2] == (1_100_000, 1_400_000)
    # equal distances: not "closer to the end" -> start = special
    assert recording_window([1_500_000], EV, N_VICON)[:2] == (1_500_000, 1_800_000)
    # start may go below 0 before the uint32 cast (kept here, clipped by select_window)
    assert recording_window([100_000], [0, 50_000, 110_000], N_VICON)[:2] == (100_000 - 300_000, 100_000)


def test_one_special_uses_min_max_but_two_specials_use_first_last():
    # min/max = 1.0 s / 2.0 s, first/last = 1.39 s / 1.395 s
    ev = np.array([1_390_000, 1_000_000, 2_000_000, 1_395_000])
    assert recording_window([1_400_000], ev, N_VICON)[:2] == (1_400_000, 1_700_000)  # 400k < 600k: near start
    assert recording_window([1_400_000, 1_400_001], ev, N_VICON)[:2] == (1_100_000, 1_400_000)  # 10k > -5k


@pytest.mark.parametrize("n_specials", [2, 4])
def test_two_or_four_specials_take_the_first(n_specials):
    near_start = [1_100_000 + i for i in range(n_specials)]
    near_end = [1_950_000 + i for i in range(n_specials)]
    assert recording_window(near_start, EV, N_VICON)[:2] == (1_100_000, 1_400_000)
    assert recording_window(near_end, EV, N_VICON)[:2] == (1_650_000, 1_950_000)


def test_two_specials_timestamp_wrap():
    ev = np.array([3_000_000, 3_500_000, 4_000_000, 100, 200])  # events(end) < events(1): S14_1_1
    start, stop, rule = recording_window([3_100_000, 3_100_001], ev, N_VICON)
    assert (start, stop) == (3_100_000, 4_000_000)
    assert "wrap" in rule


@pytest.mark.parametrize("specials", [[1_100_000, 1_100_001, 1_900_000],
                                      [1_100_000, 1_100_000, 1_100_000, 1_100_001, 1_900_000]])
def test_three_or_five_specials_first_and_last(specials):
    assert recording_window(specials, EV, N_VICON)[:2] == (1_100_000, 1_900_000)


@pytest.mark.parametrize("n_specials", [6, 720])
def test_more_than_five_specials_is_corrupted(n_specials):
    with pytest.raises(CorruptRecordingError) as exc:
        recording_window(np.arange(n_specials) + 1_100_000, EV, N_VICON, "S4/session3/mov4.aedat")
    assert isinstance(exc.value, EvsnnError)
    assert "S4/session3/mov4.aedat" in str(exc.value) and str(n_specials) in str(exc.value)


def test_no_events_is_an_error():
    with pytest.raises(FormatError, match="no polarity events"):
        recording_window([5], np.array([], dtype=np.int64), N_VICON, "x.aedat")


def test_select_window_strict_and_matlab_ranges():
    t = np.array([10, 20, 30, 40, 50])
    assert select_window(t, 20, 50) == slice(2, 4)
    assert window_mask(t, 20, 50).tolist() == [False, False, True, True, False]
    assert select_window(t, -5, 35) == slice(0, 3)  # negative start -> uint32 0
    assert select_window(t, 50, 60) == slice(0, 0)
    # non-monotonic timestamps: MATLAB keeps the contiguous range between the first t > start and the last t < stop
    t2 = np.array([10, 30, 5, 40, 60])
    assert select_window(t2, 15, 50) == slice(1, 4)
    assert window_mask(t2, 15, 50).tolist() == [False, True, False, True, False]
    # wrap: from the first event at start to the first event at stop, inclusive
    tw = np.array([300, 400, 500, 100, 200])
    assert select_window(tw, 400, 500) == slice(1, 3)
    with pytest.raises(FormatError, match="wrap"):
        select_window(tw, 401, 500, "S14/session1/mov1.aedat")


# --------------------------------------------------------------------------------------------------
# Vicon
# --------------------------------------------------------------------------------------------------
def _vicon(n=7, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(0, 500, (n, 3, 13))
    xyz[2, :, 4] = np.nan
    xyz[5, 1, 0] = np.nan
    return xyz


def test_vicon_round_trip_and_struct_layout(tmp_path):
    from scipy.io import loadmat

    xyz = _vicon()
    p = write_vicon(tmp_path / "Vicon_data" / "S1_1_1.mat", xyz)
    back = read_vicon(p)
    assert back.shape == (7, 3, 13) and back.dtype == np.float64
    np.testing.assert_array_equal(back, xyz)  # NaNs at the same places
    m = loadmat(p)  # the layout third-party loaders rely on: m['XYZPOS'][0,0]['head'] -> (N, 3)
    assert m["XYZPOS"][0, 0]["head"].shape == (7, 3)
    np.testing.assert_array_equal(m["XYZPOS"][0, 0]["footL"], xyz[:, :, 12])
    assert dhp19.JOINTS[5:7] == ("hipR", "hipL")
    assert not list((tmp_path / "Vicon_data").glob(".*"))  # no temporary left behind


def test_vicon_bad_files(tmp_path):
    from scipy.io import savemat

    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"this is not a mat file at all" * 10)
    with pytest.raises(FormatError, match="garbage.mat"):
        read_vicon(garbage)

    no_struct = tmp_path / "nostruct.mat"
    savemat(no_struct, {"positions": np.zeros((3, 3))})
    with pytest.raises(FormatError, match="nostruct.mat.*XYZPOS"):
        read_vicon(no_struct)

    fields = {name: np.zeros((4, 3)) for name in dhp19.JOINTS if name != "footL"}
    missing = tmp_path / "missing_field.mat"
    savemat(missing, {"XYZPOS": fields})
    with pytest.raises(FormatError, match="missing_field.mat.*'footL'"):
        read_vicon(missing)

    bad_shape = dict(fields, footL=np.zeros((4, 2)))
    savemat(tmp_path / "bad_shape.mat", {"XYZPOS": bad_shape})
    with pytest.raises(FormatError, match=r"bad_shape.mat.*XYZPOS.footL.*\(4, 2\)"):
        read_vicon(tmp_path / "bad_shape.mat")

    ragged = dict(fields, footL=np.zeros((5, 3)))
    savemat(tmp_path / "ragged.mat", {"XYZPOS": ragged})
    with pytest.raises(FormatError, match="ragged.mat.*5 samples"):
        read_vicon(tmp_path / "ragged.mat")

    with pytest.raises(DataMissingError, match="nope.mat"):
        read_vicon(tmp_path / "nope.mat")
    with pytest.raises(ValueError, match=r"\(N, 3, 13\)"):
        write_vicon(tmp_path / "x.mat", np.zeros((4, 13, 3)))


# --------------------------------------------------------------------------------------------------
# projection matrices
# --------------------------------------------------------------------------------------------------
def _write_p(folder, shapes=None):
    folder.mkdir(parents=True, exist_ok=True)
    shapes = shapes or {}
    for cam in range(1, 5):
        np.save(folder / f"P{cam}.npy", np.full(shapes.get(cam, (3, 4)), float(cam)))
    np.save(folder / "camera_positions.npy", np.arange(12.0).reshape(4, 3))


def test_projection_matrices(tmp_path):
    _write_p(tmp_path)
    P = read_projection_matrices(tmp_path)
    assert sorted(P) == [1, 2, 3, 4]
    assert all(P[c].shape == (3, 4) and P[c][0, 0] == c for c in P)
    assert read_camera_positions(tmp_path).shape == (4, 3)


def test_projection_matrix_wrong_shape(tmp_path):
    _write_p(tmp_path, {3: (4, 4)})
    with pytest.raises(FormatError) as exc:
        read_projection_matrices(tmp_path)
    msg = str(exc.value)
    assert "P3.npy" in msg and "(4, 4)" in msg and "(3, 4)" in msg


def test_projection_matrix_missing(tmp_path):
    _write_p(tmp_path)
    (tmp_path / "P2.npy").unlink()
    with pytest.raises(DataMissingError, match="P2.npy"):
        read_projection_matrices(tmp_path)
    np.save(tmp_path / "camera_positions.npy", np.zeros((3, 3)))
    with pytest.raises(FormatError, match=r"camera_positions.npy.*\(3, 3\).*\(4, 3\)"):
        read_camera_positions(tmp_path)


def test_channel_camera_mapping():
    assert dhp19.CHANNEL_TO_CAMERA == {1: 1, 3: 2, 2: 3, 0: 4}
    assert dhp19.CAMERA_TO_CHANNEL == {1: 1, 2: 3, 3: 2, 4: 0}
    assert dhp19.FRONT_CAMERAS == (2, 3) and dhp19.FRONT_CHANNELS == (3, 2)
    assert dhp19.movement_index(1, 1) == 0 and dhp19.movement_index(2, 1) == 8 and dhp19.movement_index(5, 7) == 32
    assert sum(dhp19.MOVEMENTS_PER_SESSION.values()) == 33
    for key in [(4, 3, 4), (4, 3, 6), (14, 5, 3), (14, 1, 1), (5, 4, 2), (16, 2, 4), (11, 4, 5), (16, 2, 1)]:
        assert key in dhp19.KNOWN_BAD
    assert "skipped" in dhp19.KNOWN_BAD[(4, 3, 4)].official_handling


# --------------------------------------------------------------------------------------------------
# the raw tree
# --------------------------------------------------------------------------------------------------
def _touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")


def test_list_recordings(tmp_path):
    for k, m in [(1, 1), (1, 2), (5, 7), (1, 9)]:  # session 1 has 8 movements: mov9 is not visited
        _touch(dhp19.aedat_path(tmp_path, 1, k, m))
    for k, m in [(1, 1), (5, 7), (1, 9)]:  # the label of S1 session1 mov2 is missing
        _touch(dhp19.vicon_path(tmp_path, 1, k, m))
    _touch(dhp19.aedat_path(tmp_path, 12, 2, 3))
    _touch(dhp19.vicon_path(tmp_path, 12, 2, 3))
    report = []
    recs = list_recordings(tmp_path, report=report)
    assert [r.key for r in recs] == [(1, 1, 1), (1, 5, 7), (12, 2, 3)]
    assert recs[0].aedat == tmp_path / "DVS_movies" / "S1" / "session1" / "mov1.aedat"
    assert recs[0].vicon == tmp_path / "Vicon_data" / "S1_1_1.mat"
    assert recs[2].name == "S12_session2_mov3"
    assert [r.key for r, _ in report] == [(1, 1, 2)] and "S1_1_2.mat" in report[0][1]
    assert [r.key for r in list_recordings(tmp_path, subjects=[12])] == [(12, 2, 3)]


def test_list_recordings_missing_subject(tmp_path):
    _touch(dhp19.aedat_path(tmp_path, 1, 1, 1))
    with pytest.raises(DataMissingError) as exc:
        list_recordings(tmp_path, subjects=[1, 2])
    msg = str(exc.value)
    assert str(tmp_path / "DVS_movies" / "S2") in msg and "DVS_movies/S{subject}/session" in msg
    with pytest.raises(DataMissingError, match="DVS_movies"):
        list_recordings(tmp_path / "elsewhere")


# --------------------------------------------------------------------------------------------------
# the synthetic tree reads back through the official rules
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synth_tree(tmp_path_factory):
    from evsnn.tasks.pose.synth import write_dhp19_tree

    root = tmp_path_factory.mktemp("dhp19")
    summary = write_dhp19_tree(root, subjects=(1, 13), sessions=(1,), movements=(1, 2), duration_s=0.6, seed=3,
                               event_rate=4000, pathologies={"no_special": (1, 1, 2), "single_special": (13, 1, 1),
                                                             "corrupted": (13, 1, 2)})
    return root, summary


def test_synthetic_tree_reads_back(synth_tree):
    from evsnn.io.aedat2 import read_aedat2

    root, summary = synth_tree
    info = {tuple(r["key"]): r for r in summary["recordings"]}
    recs = list_recordings(root)
    assert [r.key for r in recs] == [(1, 1, 1), (1, 1, 2), (13, 1, 1), (13, 1, 2)]
    assert summary["bytes"] < 3_000_000
    for r in recs:
        events, header = read_aedat2(r.aedat, layout="davis346")
        assert header["chip"].endswith("Davis346blue") and header["cameras"] == [0, 1, 2, 3]
        assert np.all(np.diff(events["t"]) >= 0) and events["t"][0] > 10_000_000
        xyz = read_vicon(r.vicon)
        assert xyz.shape == (60, 3, 13) and np.isnan(xyz).any()
        n = xyz.shape[0] * 10_000
        t0 = info[r.key]["vicon_start_us"]
        if r.key == (13, 1, 2):
            with pytest.raises(CorruptRecordingError):
                recording_window(header["special_timestamps"], events["t"], xyz.shape[0], r.aedat)
            continue
        start, stop, rule = recording_window(header["special_timestamps"], events["t"], xyz.shape[0], r.aedat)
        assert start == t0, rule
        assert stop == t0 + n or (r.key == (1, 1, 2) and stop == events["t"][-1]), rule
        expected = {(1, 1, 2): "no special", (13, 1, 1): "1 special, closer to the end"}.get(r.key, "specials")
        assert expected in rule
        sl = select_window(events["t"], start, stop)
        assert sl.stop - sl.start > 1000


def test_synthetic_cameras_and_skeleton_project_inside_the_frame(synth_tree):
    from evsnn.tasks.pose.preprocess import project
    from evsnn.tasks.pose.synth import PATTERNS, skeleton

    root, _ = synth_tree
    P = read_projection_matrices(root / "P_matrices")
    C = read_camera_positions(root / "P_matrices")
    np.testing.assert_allclose(C, dhp19.CAMERA_POSITIONS_MM)
    for cam in range(1, 5):  # the camera centre is the null space of P
        assert np.abs(P[cam] @ np.append(C[cam - 1], 1.0)).max() < 1e-6 * np.abs(P[cam]).max()
    t = np.linspace(0, 2.5, 126)
    for pattern in PATTERNS:
        for scale, pos, yaw in [(0.92, (-120, -120), -20), (1.08, (120, 120), 20), (1.08, (-120, 120), 0)]:
            xyz = skeleton(t, pattern, scale=scale, position=pos, yaw_deg=yaw).transpose(0, 2, 1)
            for cam in range(1, 5):
                u, v, mask = project(P[cam], xyz, H=260, W=346)
                assert mask.all(), (pattern, cam)
                assert u.min() > 5 and u.max() < 341 and v.min() > 3 and v.max() < 257
    # the labels in the tree too (NaN joints excepted), and the subject faces the front cameras 2 and 3
    xyz = read_vicon(root / "Vicon_data" / "S1_1_1.mat")
    for cam in range(1, 5):
        u, v, mask = project(P[cam], xyz, W=346)
        assert np.array_equal(mask, ~np.isnan(xyz).any(axis=1))
    j = skeleton(np.zeros(1), "arm_raise_right")[0]
    right_minus_left = j[dhp19.JOINTS.index("shoulderR")] - j[dhp19.JOINTS.index("shoulderL")]
    assert right_minus_left[0] < 0  # facing -Y: the right side is at -X
    # cameras 2 and 3 (y ~ -2400 mm) are in front of the subject (y ~ -1270 mm)
    assert np.all(C[[1, 2], 1] < -2000)
