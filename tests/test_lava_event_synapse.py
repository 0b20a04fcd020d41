"""The event-driven Lava synapse (evsnn.lava.event_synapse): scattering only the non-zero input messages gives the
dense step's integers exactly (conv, convT, pool; strides, paddings, dilations, groups, kernel sizes; every
sparsity; the 24-bit wrap), with the numba kernel and the numpy fallback, and a whole Lava run gives the same
output in every synapse mode."""
from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

pytest.importorskip("lava.lib.dl.netx")

from evsnn.errors import ConfigError  # noqa: E402
from evsnn.lava import event_synapse, netx  # noqa: E402
from evsnn.lava.run import run_file, run_netx  # noqa: E402

BACKENDS = ["numba", "numpy"]


@pytest.fixture(autouse=True)
def _no_leaked_workers():
    yield
    assert multiprocessing.active_children() == [], "Lava worker processes were left running"


def _weight(rng, kind, cin, cout, k, groups, wmax=128):
    if kind == "conv":
        return rng.integers(-wmax, wmax, size=(cout, cin // groups, *k))
    if kind == "convT":
        return rng.integers(-wmax, wmax, size=(cin, cout // groups, *k))
    return rng.integers(-wmax // 2, wmax // 2, size=k)


def _input(rng, cin, h, w, density, vmax=2 ** 15):
    """(W, H, C) int32 messages, ``density`` of them non-zero (0 and 1 exactly)."""
    x = rng.integers(1, vmax, size=(w, h, cin)) * rng.choice([-1, 1], size=(w, h, cin))
    keep = rng.random((w, h, cin)) < density if 0 < density < 1 else np.full((w, h, cin), bool(density))
    return (x * keep).astype(np.int32)


GEOMETRIES = [  # kernel (kH, kW), stride, padding, dilation, groups
    ((3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((3, 3), (2, 2), (0, 0), (1, 1), 1),
    ((3, 3), (1, 1), (2, 2), (2, 2), 2),
    ((2, 2), (2, 2), (0, 0), (1, 1), 1),
    ((3, 2), (2, 1), (1, 0), (2, 1), 4),
    ((1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((5, 3), (3, 2), (2, 1), (1, 2), 2),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["conv", "convT", "pool"])
def test_scatter_equals_the_dense_step_exactly(kind, backend):
    """Every geometry and sparsity: the scatter's int32 sums are the dense int64 sums modulo 2**32, and the step the
    synapse sends (wrapped to 24 bits, or not wrapped) is the same integer in every mode."""
    rng = np.random.default_rng(0)
    cin, cout, h, w = 8, 12, 9, 11
    n_wrapped = 0
    for kernel, stride, padding, dilation, groups in GEOMETRIES:
        g = 1 if kind == "pool" else groups
        wt = _weight(rng, kind, cin, cin if kind == "pool" else cout, kernel, g)
        geom = (kernel, stride, padding, dilation, g)
        for density in (0.0, 0.1, 0.5, 0.9, 1.0):
            x = _input(rng, cin, h, w, density, vmax=2 ** 20)
            dense = netx.synapse2d_forward(kind, x, wt.astype(np.float64), *geom)
            assert dense.dtype == np.int64
            prepared = event_synapse.prepare_weight(kind, wt, cin, g)
            ev = event_synapse.event_forward(kind, x, prepared, stride, padding, dilation, dense.shape,
                                             backend=backend)
            assert ev.dtype == np.int32 and ev.shape == dense.shape
            assert np.array_equal(ev, dense.astype(np.int32)), (kind, geom, density)
            if density == 0:
                assert not ev.any()
            for acc_bits in (24, None):
                sent = {mode: netx.synapse2d_step(kind, x, wt.astype(np.float64), *geom, acc_bits=acc_bits,
                                                  mode=mode, backend=backend) for mode in event_synapse.MODES}
                assert sent["dense"].dtype == np.int32
                assert np.array_equal(sent["event"], sent["dense"]) and np.array_equal(sent["auto"], sent["dense"])
            n_wrapped += int(np.count_nonzero(np.abs(dense) >= 2 ** 23))
    assert n_wrapped > 0   # the 24-bit wrap was exercised (messages up to 2**20, weights up to 2**7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sums_beyond_int32_wrap_like_the_dense_cast(backend):
    """Sums far beyond 2**31 (24-bit messages, 12-bit weights): the scatter's int32 accumulation modulo 2**32 is the
    int64 dense sum cast to int32, and with the 24-bit wrap the same integer again."""
    rng = np.random.default_rng(3)
    x = _input(rng, 16, 6, 7, 1.0, vmax=2 ** 23)
    wt = rng.integers(-2 ** 11, 2 ** 11, size=(5, 16, 3, 3))
    geom = ((3, 3), (1, 1), (1, 1), (1, 1), 1)
    dense = netx.synapse2d_forward("conv", x, wt.astype(np.float64), *geom)
    assert np.abs(dense).max() > 2 ** 33
    for acc_bits in (24, None):
        a = netx.synapse2d_step("conv", x, wt.astype(np.float64), *geom, acc_bits=acc_bits, mode="dense")
        b = netx.synapse2d_step("conv", x, wt.astype(np.float64), *geom, acc_bits=acc_bits, mode="event",
                                backend=backend)
        assert np.array_equal(a, b)


def test_auto_picks_by_the_non_zero_fraction():
    """auto compares the step's non-zero fraction with the backend's crossover (the numpy fallback's is low)."""
    x = np.zeros((10, 10, 1), dtype=np.int32)
    x.flat[:30] = 1   # 0.3 non-zero
    for kind in ("conv", "convT", "pool"):
        limit = event_synapse.AUTO_MAX_DENSITY_NUMPY[kind]
        assert limit < 0.3
        assert not event_synapse.use_event(kind, "auto", x, backend="numpy")
        numba_limit = event_synapse.AUTO_MAX_DENSITY[kind]
        assert event_synapse.use_event(kind, "auto", x, backend="numba") == (0.3 <= numba_limit)
        sparse = np.zeros_like(x)
        sparse.flat[:int(limit * x.size)] = 1
        assert event_synapse.use_event(kind, "auto", sparse, backend="numpy")
    assert event_synapse.use_event("conv", "event", np.ones_like(x)) and not event_synapse.use_event("conv", "dense", x)


def test_mode_comes_from_the_argument_or_the_environment(monkeypatch):
    monkeypatch.delenv(event_synapse.MODE_ENV, raising=False)
    assert event_synapse.resolve_mode(None) == "auto"
    monkeypatch.setenv(event_synapse.MODE_ENV, "dense")
    assert event_synapse.resolve_mode(None) == "dense" and event_synapse.resolve_mode("event") == "event"
    monkeypatch.setenv(event_synapse.MODE_ENV, "sparse")
    with pytest.raises(ConfigError, match="EVSNN_LAVA_SYNAPSE='sparse': allowed values are auto, event, dense"):
        event_synapse.resolve_mode(None)
    with pytest.raises(ValueError, match="synapse mode must be one of auto, event, dense"):
        event_synapse.resolve_mode("fast")


def test_lava_run_is_identical_in_every_synapse_mode(tmp_path, monkeypatch):
    """End to end: the FORMATS 2.11 layer list (conv with dilation, mean pool, 2x2 stride-2 convT; vThMant = 0 in 13
    layers, so every change is sent) and the slayer-exported network with groups, odd-width pools and a k3 s2 p1
    convT give the same outputs in every layer with the event-driven, the automatic and the dense synapse. In the
    event run the dense step is made to fail (the workers are forked from this process), so the event path is what
    ran there."""
    from test_lava_netx import _zero_thresholds, write_dhp19_like
    from test_lava_parity import _calibrate, _sdnn_blocks, _sdnn_input

    from evsnn.lava.export import export_network

    dhp19 = write_dhp19_like(tmp_path / "dhp19.net", H=8, W=12, edit=_zero_thresholds)
    x_dhp19 = (np.random.default_rng(0).random((1, 1, 8, 12, 4)) < 0.2).astype(np.float64)  # netx run's input
    blocks = _sdnn_blocks()
    x_sdnn = _sdnn_input()
    _calibrate(blocks, x_sdnn)
    sdnn = tmp_path / "sdnn.net"
    export_network(blocks, sdnn, in_shape=(2, 8, 10))
    event_outputs = {}
    for path, x, modes in ((dhp19, x_dhp19, ("dense", "auto")), (sdnn, x_sdnn.numpy(), ("dense",))):
        runs = {mode: run_netx(path, x, taps="all", synapse=mode) for mode in modes}
        with monkeypatch.context() as m:
            def no_dense(*args, **kwargs):
                raise AssertionError("the dense step ran in an event-driven run")
            m.setattr(netx, "synapse2d_forward", no_dense)
            runs["event"] = run_netx(path, x, taps="all", synapse="event")
        ref = runs["dense"]
        assert np.count_nonzero(ref.output) > 0
        for mode in runs:
            assert np.array_equal(runs[mode].output, ref.output), (path.name, mode)
            for i, tap in ref.taps.items():
                assert np.array_equal(runs[mode].taps[i], tap), (path.name, mode, i)
        event_outputs[path] = runs["event"].output
    monkeypatch.setenv(event_synapse.MODE_ENV, "dense")   # netx run: the environment forces the dense step
    forced = run_file(dhp19, steps=4)
    assert forced["synapse"] == "dense"
    assert forced["output_events"] == np.count_nonzero(event_outputs[dhp19]) > 0
