"""DHP19 official preprocessing: filters, 3-sigma normalisation, constant-count frames, labels, projection,
heatmaps, stacked histograms, and the synthetic tree end to end. Expected values are worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from evsnn.tasks.pose import preprocess as dp
from evsnn.events import CAMERA_EVENT_DTYPE, make_events

BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not dp.numba_available(),
                                                                     reason="numba not importable"))]


def raw_events(X, Y, t, cam=None, p=None):
    """Raw DHP19 events from 1-based combined-image coordinates (inverse of X = (346 - x) + cam*346, Y = 260 - y)."""
    X = np.asarray(X)
    cam = (X - 1) // 346 if cam is None else np.asarray(cam)
    x = 346 * (cam + 1) - X
    y = 260 - np.asarray(Y)
    return make_events(x, y, t, np.ones(len(X), dtype=np.int8) if p is None else p, c=cam)


# --------------------------------------------------------------------------------------------------
# coordinates
# --------------------------------------------------------------------------------------------------
def test_combined_coordinates_and_frame_pixel():
    X, Y = dp.combined_coordinates([0, 345, 0, 345], [0, 259, 259, 0], [0, 0, 3, 3])
    assert X.tolist() == [346, 1, 1384, 1039] and Y.tolist() == [260, 1, 1, 260]
    # DVS[n, 259 - y, 345 - x, cam]: raw (x=0, y=0, cam=0) is the bottom-right pixel of channel 0
    q = dp.frame_pixel([0, 345, 10], [0, 259, 20], [0, 0, 2])
    assert np.unravel_index(q, (260, 346, 4))[0].tolist() == [259, 0, 239]
    assert np.unravel_index(q, (260, 346, 4))[1].tolist() == [345, 0, 335]
    assert np.unravel_index(q, (260, 346, 4))[2].tolist() == [0, 0, 2]


# --------------------------------------------------------------------------------------------------
# filters
# --------------------------------------------------------------------------------------------------
def test_hot_pixel_filter():
    X = [5, 5, 5, 7, 7, 9]
    Y = [3, 3, 3, 3, 3, 3]
    assert dp.hot_pixel_filter(X, Y, threshold=3).tolist() == [False, False, False, True, True, True]
    assert dp.hot_pixel_filter(X, Y, threshold=2).tolist() == [False, False, False, False, False, True]
    assert dp.hot_pixel_filter(X, Y).all()  # default threshold 1e4


# (X, Y, t) sequences with dt = 100 and the keep-mask worked out by hand from the current BackgroundFilter.m
# (SensorsINI/DHP19 since commit 3395890: an event refreshes its 8 neighbours, not its own pixel)
BA_CASES = {
    "isolated event dropped, t <= dt passes (map starts at 0)": ([10, 200], [10, 100], [1000, 1050], [False, False]),
    "early events pass": ([10], [10], [50], [True]),
    "neighbour within dt": ([10, 11], [10, 10], [1000, 1050], [False, True]),
    "same pixel does not count": ([10, 10], [10, 10], [1000, 1080], [False, False]),
    "own pixel refreshed by a neighbour": ([10, 11, 10], [10, 10, 10], [1000, 1050, 1100], [False, True, True]),
    "exactly dt passes, dt + 1 not": ([10, 11, 40, 41], [10, 11, 40, 40], [1000, 1100, 2000, 2101],
                                      [False, True, False, False]),
    "dropped events refresh, last write wins": ([10, 12, 11], [10, 10, 10], [1000, 1050, 1100], [False, False, True]),
    "not a neighbour two pixels away": ([10, 12], [10, 10], [1000, 1010], [False, False]),
    "border events do not refresh": ([1, 2], [5, 5], [1000, 1050], [False, False]),
    "non-border events refresh the border": ([2, 1], [5, 5], [1000, 1050], [False, True]),
    "top/bottom border rows": ([50, 50, 60, 60], [260, 259, 2, 1], [1000, 1050, 2000, 2050],
                               [False, False, False, True]),
    "neighbourhoods cross camera seams": ([346, 347], [100, 100], [1000, 1050], [False, True]),
    "non-monotonic time saturates to 0": ([10, 11], [10, 10], [5000, 1000], [False, True]),
    "corner neighbour": ([20, 21], [20, 21], [1000, 1099], [False, True]),
}


# the first release's filter (SensorsINI/DHP19 @28f85c9) also wrote the event's own pixel
BA_CASES_2019 = {
    "same pixel counts": ([10, 10], [10, 10], [1000, 1080], [False, True]),
    "border events write nothing": ([1, 1], [5, 5], [1000, 1050], [False, False]),
    "neighbour within dt": ([10, 11], [10, 10], [1000, 1050], [False, True]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(BA_CASES))
def test_background_activity_filter_hand_cases(case, backend):
    X, Y, t, expected = BA_CASES[case]
    keep = dp.background_activity_filter(X, Y, t, dt=100, backend=backend)
    assert keep.tolist() == expected
    assert dp.background_activity_filter(X, Y, t, dt=100, variant="current", backend=backend).tolist() == expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(BA_CASES_2019))
def test_background_activity_filter_2019_hand_cases(case, backend):
    X, Y, t, expected = BA_CASES_2019[case]
    assert dp.background_activity_filter(X, Y, t, dt=100, variant="2019", backend=backend).tolist() == expected


def test_background_activity_filter_unknown_variant():
    with pytest.raises(ValueError, match=r"one of 'current', '2019', not 'newest'"):
        dp.background_activity_filter([10], [10], [0], variant="newest")
    with pytest.raises(ValueError, match="not 'newest'"):
        dp.preprocess_events(raw_events([10], [10], [0]), 0, 10, np.zeros((1, 3, 13)), ba_filter="newest")


def _ba_reference(X, Y, t, dt, xdim=1384, ydim=260):
    """The current BackgroundFilter.m (SensorsINI/DHP19 @12a3fe6, generate_DHP19/BackgroundFilter.m), transcribed
    statement by statement: a 1-based time map, uint32 - double saturating at 0, and the eight neighbour writes of
    lines 19-26 (no write to the event's own pixel since commit 3395890)."""
    last = [[0] * (ydim + 1) for _ in range(xdim + 1)]  # index 0 unused: MATLAB is 1-based
    keep = []
    for xs, ys, ts in zip(X, Y, t):
        delta = ts - last[xs][ys]
        if delta < 0:
            delta = 0
        keep.append(not delta > dt)
        if not (xs == 1 or xs == xdim or ys == 1 or ys == ydim):
            last[xs - 1][ys] = ts
            last[xs + 1][ys] = ts
            last[xs][ys - 1] = ts
            last[xs][ys + 1] = ts
            last[xs - 1][ys - 1] = ts
            last[xs + 1][ys + 1] = ts
            last[xs - 1][ys + 1] = ts
            last[xs + 1][ys - 1] = ts
    return keep


def _ba_reference_2019(X, Y, t, dt, xdim=1384, ydim=260):
    """The first release's loop (@28f85c9): the same, plus the write to the event's own pixel."""
    last = [[0] * (ydim + 2) for _ in range(xdim + 2)]
    keep = []
    for xs, ys, ts in zip(X, Y, t):
        keep.append(not (max(ts - last[xs][ys], 0) > dt))
        if not (xs == 1 or xs == xdim or ys == 1 or ys == ydim):
            for i in (-1, 0, 1):
                for j in (-1, 0, 1):
                    last[xs + i][ys + j] = ts
    return keep


def _random_ba_events(seed=1, n=3000):
    rng = np.random.default_rng(seed)
    X = rng.integers(1, 40, n)  # dense corner, including the border rows/columns
    Y = rng.integers(1, 30, n)
    t = np.sort(rng.integers(0, 4_000_000, n))
    t[100:110] = t[100:110][::-1]  # a few non-monotonic timestamps
    X[::97] = 1384
    return X, Y, t


@pytest.mark.parametrize("backend", BACKENDS)
def test_background_activity_filter_random_against_loop(backend):
    X, Y, t = _random_ba_events()
    expected = _ba_reference(X.tolist(), Y.tolist(), t.tolist(), 70_000)
    assert dp.background_activity_filter(X, Y, t, backend=backend).tolist() == expected
    old = _ba_reference_2019(X.tolist(), Y.tolist(), t.tolist(), 70_000)
    assert dp.background_activity_filter(X, Y, t, variant="2019", backend=backend).tolist() == old
    assert old != expected  # the two variants differ on these events


@pytest.mark.parametrize("ba_filter", ["current", "2019"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_follow_the_loop_filter(backend, ba_filter):
    """Frames of the whole preprocessing (fused numba kernel / modular numpy filters) hold exactly the events the
    per-event loop keeps."""
    rng = np.random.default_rng(5)
    n = 4000
    X = rng.integers(2, 30, n)  # camera 0 of the combined image (columns 1..346)
    Y = rng.integers(2, 25, n)
    t = np.sort(rng.integers(0, 3_000_000, n))
    ref = _ba_reference if ba_filter == "current" else _ba_reference_2019
    keep = np.array(ref(X.tolist(), Y.tolist(), t.tolist(), 70_000))
    vicon = np.zeros((400, 3, 13))
    dvs, _, stats = dp.preprocess_events(raw_events(X, Y, t), 0, 4_000_000, vicon, hot_pixel_threshold=None,
                                         masks=(), events_per_frame=int(keep.sum()) // 4, k_rounding="floor",
                                         backend=backend, ba_filter=ba_filter)
    assert stats["background_removed"] == int((~keep).sum()) and dvs.shape[0] == 1
    counts = np.zeros((260, 346), dtype=np.int64)
    np.add.at(counts, (Y[keep] - 1, X[keep] - 1), 1)
    kept_in_frame = (int(keep.sum()) // 4) * 4  # the frame closes after events_per_frame * 4 kept events
    counts[:] = 0
    np.add.at(counts, (Y[keep][:kept_in_frame] - 1, X[keep][:kept_in_frame] - 1), 1)
    np.testing.assert_array_equal(dvs[0, :, :, 0] > 0, counts > 0)


def test_ir_masks_strict_inequalities():
    pts = {  # (X, Y): dropped?
        (780, 130): False, (781, 130): True, (809, 144): True, (810, 130): False, (800, 115): False,
        (800, 116): True, (800, 145): False,
        (1253, 137): True, (1252, 140): False, (1258, 143): True, (1259, 140): False, (1255, 136): False,
        (1255, 144): False,
    }
    X, Y = zip(*pts)
    keep = dp.ir_mask_filter(X, Y)
    assert keep.tolist() == [not v for v in pts.values()]


# --------------------------------------------------------------------------------------------------
# 3-sigma normalisation (normalizeImage3Sigma.m, MATLAB var with N - 1)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("values, expected", [
    ([1, 2, 3], [85, 170, 255]),  # var = 1, 3 sigma = 3: floor(v*255/3)
    ([1, 1, 4], [49, 49, 196]),  # var = 3, 3 sigma = 5.196: 49.07, 196.3
    ([1] * 9 + [20], [14] * 9 + [255]),  # var = 36.1, 3 sigma = 18.03: 14.15, 282.9 -> 255
    ([5], [255]),  # one pixel: var = 0 -> sigma floored at 0.1/255
    ([2, 2, 2], [255, 255, 255]),  # equal counts: var = 0
])
def test_normalize_3sigma(values, expected):
    img = np.zeros((4, 5), dtype=np.int64)
    img.flat[[1, 3, 7, 8, 9, 11, 12, 14, 17, 19][:len(values)]] = values
    out = dp.normalize_3sigma(img)
    assert out.dtype == np.uint8
    assert out.flat[[1, 3, 7, 8, 9, 11, 12, 14, 17, 19][:len(values)]].tolist() == expected
    assert np.count_nonzero(out) == len(values)
    assert not dp.normalize_3sigma(np.zeros((3, 3))).any()


# --------------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_accumulate_frames_hand_case(backend):
    a = np.ravel_multi_index((10, 20, 0), (260, 346, 4))
    b = np.ravel_multi_index((11, 20, 0), (260, 346, 4))
    c = np.ravel_multi_index((0, 0, 1), (260, 346, 4))
    d = np.ravel_multi_index((259, 345, 3), (260, 346, 4))
    pix = [a, a, b, c, d, d, d, c, a]  # frame 0: cam0 {a: 2, b: 1}, cam1 {c: 1}; frame 1: cam3 {d: 3}, cam1 {c: 1}
    out = dp.accumulate_frames(pix, 2, 4, backend=backend)  # the 9th event does not complete a frame
    assert out.shape == (2, 260, 346, 4) and out.dtype == np.uint8
    # cam0: counts (2, 1), var = 0.5, 3 sigma = 2.1213: 2*255/2.1213 = 240.4, 1*255/2.1213 = 120.2
    assert out[0, 10, 20, 0] == 240 and out[0, 11, 20, 0] == 120
    assert out[0, 0, 0, 1] == 255 and out[1, 259, 345, 3] == 255 and out[1, 0, 0, 1] == 255
    assert np.count_nonzero(out[0]) == 3 and np.count_nonzero(out[1]) == 2


def test_frames_backends_agree():
    if not dp.numba_available():
        pytest.skip("numba not importable")
    rng = np.random.default_rng(2)
    pix = rng.integers(0, 260 * 346 * 4, 25_000)
    pix[:3000] = 77  # a heavy pixel
    pix[5000:5400] = rng.integers(0, 40, 400)
    np.testing.assert_array_equal(dp.accumulate_frames(pix, 6, 4000, backend="numba"),
                                  dp.accumulate_frames(pix, 6, 4000, backend="numpy"))


def _distinct_pixel_events(cams, t):
    """One event per distinct pixel (so every normalised value is 255 and nonzero pixels = events per camera)."""
    n = len(cams)
    i = np.arange(n)
    return make_events(i % 346, (i // 346) % 260, t, np.ones(n, dtype=np.int8), c=cams)


@pytest.mark.parametrize("backend", BACKENDS)
def test_frame_closes_every_30000_events_over_all_cameras(backend):
    cams = np.concatenate([np.zeros(20_000), np.ones(10_000),  # frame 0: 20k cam0 + 10k cam1
                           np.full(5_000, 2), np.full(25_000, 3),  # frame 1: 5k cam2 + 25k cam3
                           np.zeros(5_000)]).astype(np.uint8)  # 5k left over: no frame
    t = 1_000_000 + np.arange(cams.size, dtype=np.int64)
    ev = _distinct_pixel_events(cams, t)
    vicon = np.zeros((100, 3, 13))
    dvs, xyz, stats = dp.preprocess_events(ev, 999_999, 2_000_000, vicon, hot_pixel_threshold=None, ba_dt=None,
                                           masks=(), k_rounding="floor", backend=backend)
    assert stats["events_per_full_frame"] == 30_000 and stats["frames"] == 2 and dvs.shape[0] == 2
    per_cam = np.count_nonzero(dvs, axis=(1, 2))
    assert per_cam.tolist() == [[20_000, 10_000, 0, 0], [0, 0, 5_000, 25_000]]
    assert set(np.unique(dvs)) == {0, 255}


# --------------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------------
def test_label_index_rounding():
    start = 1_000_000
    t = start + np.array([-7, 0, 4999, 5000, 9999, 10000, 14999, 15000])
    assert dp.label_index(t, start, "matlab").tolist() == [1, 1, 1, 2, 2, 2, 2, 3]
    assert dp.label_index(t, start, "floor").tolist() == [1, 1, 1, 1, 1, 2, 2, 2]
    assert dp.label_index([25_000], -5_000, "floor").tolist() == [3]  # start clipped to 0 (uint32)


def test_frame_labels_nanmean_window():
    vicon = np.zeros((6, 3, 13))
    vicon[:, 0, 0] = [1, 2, np.nan, 4, 5, 6]
    vicon[:, 1, 3] = np.nan
    vicon[:, 2, 12] = [10, 20, 30, 40, 50, 60]
    xyz = dp.frame_labels([2, 4, 6], vicon)
    assert xyz.shape == (3, 3, 13)
    assert xyz[:, 0, 0].tolist() == [1.5, 3.0, 5.0]  # samples 1..2, 2..4 (NaN skipped), 4..6
    assert xyz[:, 2, 12].tolist() == [15.0, 30.0, 50.0]
    assert np.isnan(xyz[:, 1, 3]).all()  # an all-NaN window gives NaN
    assert dp.frame_labels([3, 3], vicon)[1, 2, 12] == 30.0  # k == last_k: one sample


@pytest.mark.parametrize("backend", BACKENDS)
def test_generation_stops_when_labels_run_out(backend):
    """A Vicon file shorter than its events ends the frames where the labels end, without an error, as the
    official code does: ``k = floor((timeStamp(idx) - startTime)*0.0001)+1; if k > length(XYZPOS.XYZPOS.head)
    break; end`` (SensorsINI/DHP19@28f85c915915541111005ec1d381472297b7c90c generate_DHP19/ExtractEventsToFramesAndMeanLabels.m:56-62); it only logs the number of frames. The README says the same."""
    cams = np.zeros(4 * 10, dtype=np.uint8)
    t = 1_000_000 + 10_000 * np.arange(40)  # frames (4 events each) close at 30, 70, 110, ... ms
    ev = _distinct_pixel_events(cams, t)
    vicon = np.arange(5 * 39, dtype=float).reshape(5, 3, 13)
    kw = dict(hot_pixel_threshold=None, ba_dt=None, masks=(), events_per_frame=1, k_rounding="floor",
              backend=backend)
    dvs, xyz, stats = dp.preprocess_events(ev, 999_999, 2_000_000, vicon, **kw)
    # closing times - start: 30001, 70001, 110001 ... -> k = 4, 8, ... > 5 at the second frame
    assert dvs.shape[0] == 1 and stats["stopped_by_labels"]
    np.testing.assert_array_equal(xyz[0], vicon[0:4].mean(axis=0))
    dvs, xyz, _ = dp.preprocess_events(ev, 999_999, 2_000_000, vicon, matlab_break_frame=True, **kw)
    assert dvs.shape[0] == 2 and not dvs[1].any() and np.isnan(xyz[1]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_pipeline_order_and_stats(backend):
    """Hot pixels go before the background filter (they never refresh it), masks come last."""
    X = [100] * 5 + [101, 50, 51, 51, 790, 791, 52, 52]
    Y = [100] * 5 + [100, 50, 50, 51, 130, 130, 50, 51]
    t = [1000, 1001, 1002, 1003, 1004, 1010, 2000, 2050, 2060, 2070, 2080, 2090, 2095]
    ev = raw_events(X, Y, t)
    vicon = np.arange(3 * 39, dtype=float).reshape(3, 3, 13)
    dvs, xyz, stats = dp.preprocess_events(ev, 0, 10_000, vicon, events_per_frame=1, hot_pixel_threshold=5,
                                           ba_dt=100, backend=backend)
    assert (stats["hot_pixels"], stats["hot_pixel_removed"]) == (1, 5)
    assert stats["background_removed"] == 3  # (101,100): hot events removed first; (50,50); (790,130)
    assert stats["mask_removed"] == 1  # (791,130) passed the background filter but lies in mask 1
    assert stats["events_used"] == 4 and dvs.shape[0] == 1
    # the 4 remaining events of camera 0, each once: all 255, at DVS[0, Y-1, X-1, 0]
    assert sorted(zip(*np.nonzero(dvs[0, :, :, 0]))) == [(49, 50), (49, 51), (50, 50), (50, 51)]
    assert set(dvs[0][dvs[0] > 0].tolist()) == {255}
    np.testing.assert_array_equal(xyz[0], vicon[0])  # k = round(2095e-4) + 1 = 1


# --------------------------------------------------------------------------------------------------
# projection, heatmaps, stacked histograms
# --------------------------------------------------------------------------------------------------
def test_project_known_points():
    # camera 1000 mm above the origin looking straight down (-Z); image right = +X, image up (smaller v) = +Y
    f, cx, cy, H = 200.0, 173.0, 130.0, 260
    R = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
    C = np.array([0.0, 0.0, 1000.0])
    K = np.array([[f, 0, cx], [0, -f, H - cy], [0, 0, 1]])
    P = K @ np.hstack([R, (-R @ C)[:, None]])
    xyz = np.array([[0, 100, 0, np.nan, -900, 865, 0], [0, 0, 100, 0, 0, 0, -650], [0, 0, 0, 0, 0, 0, 0]])
    u, v, mask = dp.project(P, xyz, H=260, W=344)
    np.testing.assert_allclose(u[[0, 1, 2, 5]], [173, 193, 173, 346])
    np.testing.assert_allclose(v[[0, 1, 2, 6]], [130, 130, 110, 260])
    assert mask.tolist() == [True, True, True, False, False, False, True]  # NaN, u <= 0, u > W; v == H is inside
    # a batch (N, 3, J) and a plain K[I|0] camera looking down +Z
    P0 = np.array([[100.0, 0, 50, 0], [0, 100, 40, 0], [0, 0, 1, 0]])
    u, v, mask = dp.project(P0, np.array([[[0.0, 1.0]], [[0.0, 2.0]], [[10.0, 10.0]]]).reshape(1, 3, 2))
    np.testing.assert_allclose(u, [[50, 60]])
    np.testing.assert_allclose(v, [[220, 200]])


def test_heatmap_peak_and_blur():
    from scipy.ndimage import gaussian_filter

    u = np.array([100.7, 0.5, 50.0, 200.0])
    v = np.array([60.2, 259.9, 30.0, 100.0])
    mask = np.array([True, True, False, True])
    hm = dp.heatmaps(u, v, mask, H=260, W=344, sigma=4.0)
    assert hm.shape == (4, 260, 344) and hm.dtype == np.float32
    assert np.unravel_index(hm[0].argmax(), hm[0].shape) == (60, 100)  # [int(v), int(u)]
    assert hm[0, 60, 100] == 1.0 and hm[1, 259, 0] == 1.0
    assert not hm[2].any()  # masked joint
    np.testing.assert_allclose(hm[0, 60, 96], hm[0, 60, 104])  # symmetric
    np.testing.assert_allclose(hm[0, 60, 104], np.exp(-16 / 32), rtol=2e-3)  # Gaussian of sigma 4 at 4 px
    one_hot = np.zeros((260, 344))
    one_hot[259, 0] = 1
    ref = gaussian_filter(one_hot, 4.0, mode="mirror", truncate=4.0)  # cv2 BORDER_REFLECT_101, radius 4 sigma
    np.testing.assert_allclose(hm[1], ref / ref.max(), atol=1e-6)
    batch = dp.heatmaps(u[None].repeat(2, 0), v[None].repeat(2, 0), mask[None].repeat(2, 0), sigma=2.0)
    assert batch.shape == (2, 4, 260, 344)


def test_stacked_histograms():
    t_end = 1_000_000
    ev = make_events([1, 2, 3, 4, 5], [0, 0, 0, 0, 0],
                     [t_end - 100_001, t_end - 100_000, t_end - 50_000, t_end - 1, t_end], [1, 0, 1, 1, 1])
    h = dp.stacked_histograms(ev, t_end, H=260, W=346)
    assert h.shape == (10, 2, 260, 346)
    assert h.sum() == 3  # [t_end - 100 ms, t_end)
    assert h[0, 0, 0, 2] == 1 and h[5, 1, 0, 3] == 1 and h[9, 1, 0, 4] == 1


def test_camera_frame_events():
    ev = np.zeros(3, dtype=CAMERA_EVENT_DTYPE)
    ev["x"] = [0, 345, 10]
    ev["y"] = [0, 259, 5]
    ev["c"] = [2, 2, 1]
    out = dp.camera_frame_events(ev, 2)
    assert out["x"].tolist() == [345, 0] and out["y"].tolist() == [259, 0]


# --------------------------------------------------------------------------------------------------
# the synthetic tree end to end
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synth_tree(tmp_path_factory):
    from evsnn.tasks.pose.synth import write_dhp19_tree

    root = tmp_path_factory.mktemp("dhp19")
    summary = write_dhp19_tree(root, subjects=(2,), sessions=(1, 3), movements=(1, 2), duration_s=0.8, seed=5,
                               event_rate=6000, pathologies={"corrupted": (2, 3, 2)})
    return root, summary


def test_synthetic_frames_show_the_projected_joints(synth_tree, tmp_path):
    from evsnn.io.dhp19 import CHANNEL_TO_CAMERA, CorruptRecordingError, list_recordings, read_projection_matrices

    root, _ = synth_tree
    P = read_projection_matrices(root / "P_matrices")
    recs = list_recordings(root)
    assert len(recs) == 4
    with pytest.raises(CorruptRecordingError):
        dp.preprocess_recording(recs[-1].aedat, recs[-1].vicon)
    rng = np.random.default_rng(0)
    probe = np.stack([rng.uniform(0, 346, 2000), rng.uniform(0, 260, 2000)])  # random pixels for the baseline
    for rec in recs[:-1]:
        dvs, xyz, stats = dp.preprocess_recording(rec.aedat, rec.vicon, events_per_frame=300)
        assert stats["hot_pixels"] == 1 and stats["mask_removed"] > 100 and stats["background_removed"] > 0
        assert dvs.shape[0] >= 8 and xyz.shape == (dvs.shape[0], 3, 13)
        near, mass, baseline = 0.0, 0.0, []
        for ch in range(4):
            u, v, mask = dp.project(P[CHANNEL_TO_CAMERA[ch]], xyz, W=346)
            for f in range(dvs.shape[0]):
                rows, cols = np.nonzero(dvs[f, :, :, ch])
                w = dvs[f, rows, cols, ch].astype(float)
                ok = mask[f]
                d = np.min(np.hypot(cols[:, None] - u[f, ok], rows[:, None] - v[f, ok]), axis=1)
                near += w[d <= 20].sum()
                mass += w.sum()
                dp_ = np.min(np.hypot(probe[0][:, None] - u[f, ok], probe[1][:, None] - v[f, ok]), axis=1)
                baseline.append(np.mean(dp_ <= 20))
        # >= 85 % of the event mass lies within 20 px of a projected joint; those discs cover < 15 % of the image
        assert near / mass > 0.85, rec.name
        assert np.mean(baseline) < 0.15
        out_dvs, out_lbl = tmp_path / "a.h5", tmp_path / "a_label.h5"
        dp.write_dhp19_h5(out_dvs, out_lbl, dvs, xyz)
        back_dvs, back_xyz = dp.read_dhp19_h5(out_dvs, out_lbl)
        assert back_dvs.dtype == np.uint8 and back_dvs.shape == dvs.shape
        np.testing.assert_array_equal(back_xyz, xyz)
    assert dp.output_names(2, 1, 1) == ("S2_session1_mov1_7500events.h5", "S2_session1_mov1_7500events_label.h5")


def test_synthetic_backends_identical(synth_tree):
    if not dp.numba_available():
        pytest.skip("numba not importable")
    from evsnn.io.dhp19 import list_recordings

    root, _ = synth_tree
    rec = list_recordings(root)[0]
    a = dp.preprocess_recording(rec.aedat, rec.vicon, events_per_frame=300, backend="numba")
    b = dp.preprocess_recording(rec.aedat, rec.vicon, events_per_frame=300, backend="numpy")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]  # the same counts at every stage
