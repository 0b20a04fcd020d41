"""The fused sigma-delta neuron step (evsnn.lava.sigma_delta) gives Lava's own fixed-point update's integers: state
and messages, on random states with extreme values, with and without ReLU / cumulative error, per-neuron or shared
thresholds and biases; and inside a whole Lava run, with Lava's numpy update made to fail."""
import numpy as np
import pytest

from evsnn.lava import sigma_delta

pytest.importorskip("lava.proc.sdn.models")
from lava.proc.sdn.models import PySigmaDeltaModelFixed  # noqa: E402
from lava.proc.sdn.process import ActivationMode  # noqa: E402

I32 = np.iinfo(np.int32)


def _lava_model(state: dict, relu: bool, cum_error: bool):
    """Lava's PySigmaDeltaModelFixed with the given state, without a process around it: its own dynamics run."""
    m = object.__new__(PySigmaDeltaModelFixed)
    for name, value in state.items():
        setattr(m, name, value.copy())
    m.act_mode = ActivationMode.RELU if relu else ActivationMode.UNIT
    m.cum_error = np.array([cum_error])
    m.state_exp = np.array([6], np.int32)
    return m


def _random_state(rng, shape, per_neuron: bool, extreme: bool) -> tuple[np.ndarray, dict]:
    def ints(lo, hi):
        x = rng.integers(lo, hi, shape, dtype=np.int64)
        if extreme:   # values next to int32's ends, where sums wrap
            pick = rng.random(shape)
            x = np.where(pick < 0.05, I32.max - rng.integers(0, 3, shape), x)
            x = np.where(pick > 0.95, I32.min + rng.integers(0, 3, shape), x)
        return x.astype(np.int32)

    big = 1 << 23
    state = {"sigma": ints(-big, big), "act": ints(0, big), "residue": ints(-4096, 4096), "error": ints(-4096, 4096),
             "vth": (rng.integers(0, 2048, shape) if per_neuron else rng.integers(0, 2048, 1)).astype(np.int32),
             "bias": (rng.integers(-4096, 4096, shape) if per_neuron else rng.integers(-4096, 4096, 1)).astype(np.int32)}
    a = ints(-big, big) * (rng.random(shape) < 0.4).astype(np.int32)
    return a, state


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("cum_error", [False, True])
@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("extreme", [False, True])
def test_fused_step_equals_lavas_numpy_update(relu, cum_error, per_neuron, extreme):
    if sigma_delta.kernel() is None:
        pytest.skip("numba not available: Lava's own update runs")
    rng = np.random.default_rng(7)
    shape = (9, 7, 5)
    a, state = _random_state(rng, shape, per_neuron, extreme)
    if extreme:
        state["act"][0, 0, 0], state["residue"][0, 0, 0] = I32.max, I32.max   # delta wraps
        state["error"][0, 0, 1] = I32.min                                     # |error| of numpy's int32
    lava = _lava_model(state, relu, cum_error)
    ours = {k: v.copy() for k, v in state.items()}
    for _ in range(4):   # a few steps: the state carries over
        want = np.right_shift(lava.dynamics(a), lava.state_exp)
        got = sigma_delta.sigma_delta_step(a, ours, relu=relu, cum_error=cum_error, state_exp=6)
        assert got is not None and got.dtype == np.int32
        np.testing.assert_array_equal(got, want)
        for name in ("sigma", "act", "residue", "error"):
            np.testing.assert_array_equal(ours[name], np.asarray(getattr(lava, name)).astype(np.int32), err_msg=name)
        a = np.roll(a, 1)


def test_reference_transcription_matches_lava():
    """sigma_delta_numpy (the module's written-out reference) is Lava's update too."""
    rng = np.random.default_rng(3)
    a, state = _random_state(rng, (6, 4, 3), per_neuron=True, extreme=False)
    for relu in (True, False):
        for cum in (True, False):
            lava = _lava_model(state, relu, cum)
            ref = {k: v.copy() for k, v in state.items()}
            np.testing.assert_array_equal(sigma_delta.sigma_delta_numpy(a, ref, relu=relu, cum_error=cum, state_exp=6),
                                          np.right_shift(lava.dynamics(a), lava.state_exp))


def test_kernel_declines_what_it_cannot_compute():
    rng = np.random.default_rng(0)
    a, state = _random_state(rng, (4, 3, 2), per_neuron=False, extreme=False)
    assert sigma_delta.sigma_delta_step(a.astype(np.int64), state, relu=True, cum_error=False, state_exp=6) is None
    odd = dict(state, bias=np.zeros(5, np.int32))      # neither one value nor one per neuron
    assert sigma_delta.sigma_delta_step(a, odd, relu=True, cum_error=False, state_exp=6) is None


def test_whole_lava_run_uses_the_fused_step(tmp_path, monkeypatch):
    """A netx SDNN run in Lava with Lava's numpy sigma-delta update made to fail gives the very outputs of a run
    with numba disabled (Lava's own update): the fused kernel ran in the workers, and computes the same."""
    if sigma_delta.kernel() is None:
        pytest.skip("numba not available")
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        import numpy as np
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from test_lava_netx import write_dhp19_like
        from evsnn.lava.run import run_netx
        net = write_dhp19_like({str(tmp_path / 'net.net')!r}, H=20, W=24)
        if sys.argv[1] == "fused":
            from lava.proc.sdn import models
            def fail(self, a):
                raise RuntimeError("Lava's numpy sigma-delta update ran")
            models.AbstractSigmaDeltaModel.dynamics = fail
        rng = np.random.default_rng(1)
        x = (rng.random((1, 1, 20, 24, 3)) < 0.3).astype(np.float64) * 3
        res = run_netx(net, x, taps="all")
        np.savez({str(tmp_path)!r} + "/" + sys.argv[1] + ".npz", out=res.output,
                 **{{str(k): v for k, v in res.taps.items()}})
    """))
    env = dict(__import__("os").environ)
    subprocess.run([sys.executable, str(script), "fused"], check=True, env=env, timeout=600)
    env["EVSNN_DISABLE_NUMBA"] = "1"
    subprocess.run([sys.executable, str(script), "numpy"], check=True, env=env, timeout=600)
    fused, ref = np.load(tmp_path / "fused.npz"), np.load(tmp_path / "numpy.npz")
    assert set(fused.files) == set(ref.files) and len(ref.files) > 5
    for k in ref.files:
        np.testing.assert_array_equal(fused[k], ref[k], err_msg=k)
