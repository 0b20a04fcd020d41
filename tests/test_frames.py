"""evsnn.frames against plain-loop references and against spikingjelly's own integration code."""
from __future__ import annotations

import numpy as np
import pytest

from evsnn import frames as F
from evsnn.events import EVENT_DTYPE, make_events, slice_time

# a machine without numba records the numba cases as skipped (a failure under EVSNN_REQUIRE), never drops them
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not F.numba_available(),
                                                                    reason="numba not importable or disabled"))]


def random_events(n, H, W, seed=0, t_span=10_000, t0=1_000):
    """Sorted random events (with repeated timestamps) inside an H x W sensor."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(t0, t0 + t_span, n))
    return make_events(rng.integers(0, W, n), rng.integers(0, H, n), t, rng.integers(0, 2, n))


def loop_frames(events, T, split_by, H, W, k=1):
    """Independent reference: per event, find its frame by the segment rule and increment a count."""
    out = np.zeros((T, 2, H // k, W // k), dtype=np.int64)
    n = len(events)
    if n == 0:
        return out
    t0, t_last = int(events["t"][0]), int(events["t"][-1])
    per_frame = n // T
    dt = (t_last - t0) // T
    for i, ev in enumerate(events):
        if split_by == "number":
            f = T - 1 if per_frame == 0 else min(i // per_frame, T - 1)
        else:
            # frame j: t0 + dt*j <= t < t0 + dt*(j+1); the last frame also takes everything later
            f = T - 1
            for j in range(T - 1):
                if t0 + dt * j <= int(ev["t"]) < t0 + dt * (j + 1):
                    f = j
                    break
        c = 1 if ev["p"] != 0 else 0
        out[f, c, int(ev["y"]) // k, int(ev["x"]) // k] += 1
    return out


# ------------------------------------------------------------------------------------------------
# fixed number of frames: plain-loop reference
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("n", [1, 5, 15, 16, 17, 101, 1003])
@pytest.mark.parametrize("T", [1, 3, 16])
def test_fixed_frames_match_loop_reference(backend, split_by, n, T):
    H, W = 6, 8
    ev = random_events(n, H, W, seed=n * 31 + T, t_span=max(2, n // 3))
    ref = loop_frames(ev, T, split_by, H, W)
    got = F.integrate_fixed_frames(ev, T, split_by, H=H, W=W, dtype=np.int64, backend=backend)
    assert got.shape == (T, 2, H, W) and got.dtype == np.int64
    np.testing.assert_array_equal(got, ref)
    assert got.sum() == n
    got2 = F.integrate_fixed_frames(ev, T, split_by, H=H, W=W, downsample=2, dtype=np.int64, backend=backend)
    np.testing.assert_array_equal(got2, loop_frames(ev, T, split_by, H, W, k=2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_downsample_equals_integer_divided_coordinates(backend):
    H, W, k = 12, 20, 4
    ev = random_events(3000, H, W, seed=3)
    small = make_events(ev["x"] // k, ev["y"] // k, ev["t"], ev["p"])
    for split_by in F.SPLIT_BY:
        a = F.integrate_fixed_frames(ev, 5, split_by, H=H, W=W, downsample=k, backend=backend)
        b = F.integrate_fixed_frames(small, 5, split_by, H=H // k, W=W // k, backend=backend)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_and_input_forms_agree(backend):
    H, W = 32, 48
    ev = random_events(20_000, H, W, seed=5)
    as_dict = {k: ev[k].astype(np.int64) for k in ("t", "x", "y", "p")}
    as_bool = {"x": ev["x"], "y": ev["y"], "t": ev["t"], "p": ev["p"].astype(bool)}
    for split_by in F.SPLIT_BY:
        ref = F.integrate_fixed_frames(ev, 7, split_by, H=H, W=W, backend="numpy")
        for form in (ev, as_dict, as_bool):
            got = F.integrate_fixed_frames(form, 7, split_by, H=H, W=W, backend=backend)
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spikingjelly_polarity_rule_p_nonzero_is_on(backend):
    ev = {"x": np.array([0, 1, 2]), "y": np.array([0, 0, 0]), "t": np.array([0, 1, 2]), "p": np.array([-1, 0, 3])}
    fr = F.integrate_fixed_frames(ev, 1, H=1, W=3, dtype=np.int64, backend=backend)
    np.testing.assert_array_equal(fr[0], [[[0, 1, 0]], [[1, 0, 1]]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_dtypes_and_overflow(backend):
    ev = make_events(np.zeros(300), np.zeros(300), np.arange(300), np.ones(300))
    fr = F.integrate_fixed_frames(ev, 1, H=2, W=2, dtype=np.uint16, backend=backend)
    assert fr.dtype == np.uint16 and fr[0, 1, 0, 0] == 300
    assert F.integrate_fixed_frames(ev, 2, H=2, W=2, backend=backend).dtype == np.float32
    with pytest.raises(ValueError, match="300 events, more than dtype uint8"):
        F.integrate_fixed_frames(ev, 1, H=2, W=2, dtype=np.uint8, backend=backend)


# ------------------------------------------------------------------------------------------------
# spikingjelly itself
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sj():
    pytest.importorskip("spikingjelly")
    from _sj_compat import load_sj_dataset_utils

    return load_sj_dataset_utils()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [4_000, 4_001, 4_015])
@pytest.mark.parametrize("T", [1, 4, 16])
def test_equals_spikingjelly(sj, backend, n, T):
    from _sj_compat import sj_events

    H, W = 16, 24
    ev = random_events(n, H, W, seed=n + T, t_span=50_000)  # dense enough: no empty time window
    for split_by in F.SPLIT_BY:
        ref = sj.integrate_events_by_fixed_frames_number(sj_events(ev), split_by, T, H, W)
        got = F.integrate_fixed_frames(ev, T, split_by, H=H, W=W, dtype=np.float64, backend=backend)
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1000, 4_097])
def test_segments_equal_spikingjelly(sj, n):
    ev = random_events(n, 4, 4, seed=n, t_span=100_000)
    for T in (1, 3, 16):
        j_l, j_r = F.frame_segments(n, T, "number")
        s_l, s_r = sj.cal_fixed_frames_number_segment_index(ev["t"], "number", T)
        np.testing.assert_array_equal(j_l, s_l)
        np.testing.assert_array_equal(j_r, s_r)
        if n >= 1000:  # spikingjelly raises IndexError on an empty time window
            j_l, j_r = F.frame_segments(n, T, "time", ev["t"])
            s_l, s_r = sj.cal_fixed_frames_number_segment_index(ev["t"], "time", T)
            np.testing.assert_array_equal(j_l, s_l)
            np.testing.assert_array_equal(j_r, s_r)


def test_time_segments_where_spikingjelly_fails():
    # an empty window -> an empty segment; all events in the same microsecond -> all in the last frame
    t = np.array([0, 1, 2, 90, 95, 100])
    j_l, j_r = F.frame_segments(6, 4, "time", t)  # dt = 25: windows [0,25) [25,50) [50,75) [75,...)
    np.testing.assert_array_equal(j_l, [0, 3, 3, 3])
    np.testing.assert_array_equal(j_r, [3, 3, 3, 6])
    j_l, j_r = F.frame_segments(3, 4, "time", np.array([7, 7, 7]))
    np.testing.assert_array_equal(j_l, [0, 0, 0, 0])
    np.testing.assert_array_equal(j_r, [0, 0, 0, 3])


# ------------------------------------------------------------------------------------------------
# argument validation
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_errors(backend):
    ev = random_events(100, 10, 10, seed=1)
    with pytest.raises(ValueError, match="split_by must be one of"):
        F.integrate_fixed_frames(ev, 4, "count", H=10, W=10, backend=backend)
    with pytest.raises(ValueError, match="T must be >= 1"):
        F.integrate_fixed_frames(ev, 0, H=10, W=10, backend=backend)
    with pytest.raises(TypeError, match="T must be an integer"):
        F.integrate_fixed_frames(ev, 2.5, H=10, W=10, backend=backend)
    with pytest.raises(ValueError, match="downsample=3 must divide"):
        F.integrate_fixed_frames(ev, 4, H=10, W=10, downsample=3, backend=backend)
    bad = ev.copy()
    bad["x"][17] = 130
    for split_by in F.SPLIT_BY:
        with pytest.raises(ValueError, match=r"x coordinate 130 is outside the frame \(width W=10"):
            F.integrate_fixed_frames(bad, 4, split_by, H=10, W=10, backend=backend)
    bad = ev.copy()
    bad["y"][-1] = 10
    with pytest.raises(ValueError, match=r"y coordinate 10 is outside the frame \(height H=10, valid 0..9\)"):
        F.integrate_fixed_frames(bad, 4, H=10, W=10, backend=backend)
    neg = {k: ev[k].astype(np.int64) for k in ("x", "y", "t", "p")}
    neg["x"][3] = -2
    with pytest.raises(ValueError, match="x coordinate -2 is outside"):
        F.integrate_fixed_frames(neg, 4, H=10, W=10, backend=backend)
    unsorted = ev.copy()
    unsorted["t"][50] = unsorted["t"][49] - 1
    with pytest.raises(ValueError, match=r"timestamps must be sorted.*t\[50\]"):
        F.integrate_fixed_frames(unsorted, 4, "time", H=10, W=10, backend=backend)
    with pytest.raises(ValueError, match="timestamps must be sorted"):
        F.integrate_by_time_bins(unsorted, 100, H=10, W=10, backend=backend)
    with pytest.raises(ValueError, match="must have a field 'p'"):
        F.integrate_fixed_frames(np.zeros(3, dtype=[("x", "u2"), ("y", "u2")]), 1, backend=backend)
    with pytest.raises(TypeError, match="must be integers"):
        F.integrate_fixed_frames({"x": np.zeros(2), "y": np.zeros(2, int), "p": np.zeros(2, int)}, 1)
    with pytest.raises(ValueError, match="backend must be one of"):
        F.integrate_fixed_frames(ev, 4, H=10, W=10, backend="cuda")


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_events_give_zero_frames(backend):
    empty = np.empty(0, dtype=EVENT_DTYPE)
    for split_by in F.SPLIT_BY:
        fr = F.integrate_fixed_frames(empty, 5, split_by, H=4, W=6, downsample=2, dtype=np.uint8, backend=backend)
        assert fr.shape == (5, 2, 2, 3) and fr.dtype == np.uint8 and not fr.any()
    assert F.integrate_by_time_bins(empty, 10, H=4, W=6, backend=backend).shape == (0, 2, 4, 6)
    assert F.integrate_by_time_bins(empty, 10, H=4, W=6, n_bins=3, backend=backend).shape == (3, 2, 4, 6)
    assert F.voxel_grid(empty, 3, 4, 6).shape == (3, 4, 6)


# ------------------------------------------------------------------------------------------------
# fixed-duration bins
# ------------------------------------------------------------------------------------------------
def counts_of(events, H, W):
    fr = np.zeros((2, H, W), dtype=np.int64)
    np.add.at(fr, ((events["p"] != 0).astype(int), events["y"].astype(int), events["x"].astype(int)), 1)
    return fr


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("t_start,n_bins", [(None, None), (2_000, 7), (500, None), (4_321, 1)])
def test_time_bins_equal_slice_counts(backend, t_start, n_bins):
    H, W, bin_us = 8, 10, 1_000
    ev = random_events(5_000, H, W, seed=11, t_span=9_500, t0=1_000)
    fr = F.integrate_by_time_bins(ev, bin_us, H=H, W=W, n_bins=n_bins, t_start=t_start, dtype=np.int64, backend=backend)
    start = int(ev["t"][0]) if t_start is None else t_start
    expected_bins = (int(ev["t"][-1]) - start) // bin_us + 1 if n_bins is None else n_bins
    assert fr.shape == (expected_bins, 2, H, W)
    for b in range(expected_bins):
        in_bin = slice_time(ev, start + b * bin_us, start + (b + 1) * bin_us)
        np.testing.assert_array_equal(fr[b], counts_of(in_bin, H, W))
    if t_start is None and n_bins is None:
        assert fr.sum() == len(ev)
    # the order of the events outside the bins is checked too
    for i in (1, len(ev) - 1):
        bad = ev.copy()
        bad["t"][i] = bad["t"][i - 1] - 1
        with pytest.raises(ValueError, match=rf"timestamps must be sorted.*t\[{i}\]"):
            F.integrate_by_time_bins(bad, bin_us, H=H, W=W, n_bins=n_bins, t_start=t_start, backend=backend)
    fr2 = F.integrate_by_time_bins(ev, bin_us, H=H, W=W, n_bins=n_bins, t_start=t_start, downsample=2, backend=backend)
    np.testing.assert_array_equal(fr2, fr.reshape(fr.shape[0], 2, H // 2, 2, W // 2, 2).sum(axis=(3, 5)))


# ------------------------------------------------------------------------------------------------
# voxel grid
# ------------------------------------------------------------------------------------------------
def loop_voxel(events, B, H, W):
    v = np.zeros((B, H, W))
    t0, t1 = float(events["t"][0]), float(events["t"][-1])
    for ev in events:
        ts = (B - 1) * (float(ev["t"]) - t0) / (t1 - t0) if t1 > t0 else 0.0
        pol = 1.0 if ev["p"] != 0 else -1.0
        for b in range(B):
            v[b, ev["y"], ev["x"]] += pol * max(0.0, 1.0 - abs(b - ts))
    return v


@pytest.mark.parametrize("B", [1, 2, 5, 9])
def test_voxel_grid(B):
    H, W = 5, 7
    ev = random_events(400, H, W, seed=B)
    v = F.voxel_grid(ev, B, H, W, dtype=np.float64)
    assert v.shape == (B, H, W) and v.dtype == np.float64
    np.testing.assert_allclose(v, loop_voxel(ev, B, H, W), atol=1e-9)
    signed = counts_of(ev, H, W)
    np.testing.assert_allclose(v.sum(axis=0), signed[1] - signed[0], atol=1e-9)
    v32 = F.voxel_grid(ev, B, H, W)
    assert v32.dtype == np.float32
    np.testing.assert_allclose(v32, v, atol=1e-4)


@pytest.mark.parametrize("B", [1, 2, 5, 10])
def test_voxel_grid_numba_equals_numpy_bit_for_bit(B):
    """The compiled kernel and the numpy fallback give identical grids (same float64 sums in the same order)."""
    if not F.numba_available():
        pytest.skip("numba is not importable here: only the numpy path exists")
    H, W = 26, 34
    ev = random_events(50_000, H, W, seed=10 + B)
    ev["t"][-100:] = ev["t"][-1]  # ties at the end: events exactly on the last bin
    ev["t"][:100] = ev["t"][0]
    for dt in (np.float64, np.float32):
        a = F.voxel_grid(ev, B, H, W, dtype=dt, backend="numba")
        b = F.voxel_grid(ev, B, H, W, dtype=dt, backend="numpy")
        assert a.dtype == b.dtype == np.dtype(dt)
        np.testing.assert_array_equal(a, b)
    same_t = make_events([0, 1, 1], [0, 0, 1], [5, 5, 5], [1, 0, 1])
    np.testing.assert_array_equal(F.voxel_grid(same_t, B, 2, 2, backend="numba"),
                                  F.voxel_grid(same_t, B, 2, 2, backend="numpy"))
    spj = {k: ev[k] for k in ("x", "y", "t", "p")}  # spikingjelly's dict
    np.testing.assert_array_equal(F.voxel_grid(spj, B, H, W, backend="numba"), F.voxel_grid(ev, B, H, W))
    for bad, err, match in ((make_events([0, 5], [0, 0], [1, 2], [1, 1]), ValueError, "x coordinate 5"),
                            (make_events([0, 1], [0, 0], [2, 1], [1, 1]), ValueError, "sorted")):
        for backend in ("numba", "numpy"):
            with pytest.raises(err, match=match):
                F.voxel_grid(bad, B, 2, 2, backend=backend)


def test_voxel_grid_constant_time_goes_to_first_bin_and_errors():
    ev = make_events([0, 1, 1], [0, 0, 1], [5, 5, 5], [1, 0, 1])
    v = F.voxel_grid(ev, 3, 2, 2)
    np.testing.assert_array_equal(v[0], [[1, -1], [0, 1]])
    assert not v[1:].any()
    with pytest.raises(ValueError, match="y coordinate 1 is outside"):
        F.voxel_grid(ev, 3, 1, 2)
    with pytest.raises(TypeError, match="dtype must be floating"):
        F.voxel_grid(ev, 3, 2, 2, dtype=np.int32)
