"""The prepared GPU check: the training benchmark runs (tiny, on the CPU) so it cannot rot, skips with one line
without CUDA, refuses unknown kernel choices; the gpu-check config validates; device: cuda without a GPU says
what was found."""
import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gpu_training", ROOT / "benchmarks/bench_gpu_training.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tiny_cpu_run_times_both_loops(capsys):
    rows = _bench().main(["--device", "cpu", "--tiny", "--steps", "2", "--warmup", "1"])
    out = capsys.readouterr().out
    assert isinstance(rows, list) and len(rows) == 1 and "error" not in rows[0], rows
    r = rows[0]
    assert r["evsnn_steps_per_s"] > 0 and r["reference_steps_per_s"] > 0
    assert r["ratio"] == pytest.approx(r["evsnn_steps_per_s"] / r["reference_steps_per_s"])
    assert "| cpu | cpu |" in out and "spikingjelly loop steps/s" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the benchmark runs instead")
def test_without_cuda_it_skips_with_one_line(capsys):
    assert _bench().main([]) == []
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "skipped, no CUDA device is visible" in out[0] and "make gpu-check" in out[0]


def test_unknown_kernel_choice_names_the_ones_that_exist(capsys):
    assert _bench().main(["--kernels", "cupy"]) == 2
    assert "unknown kernel choice 'cupy'; spikingjelly 2.0 offers: auto, cuda, triton, torch" in capsys.readouterr().err


def test_gpu_check_config_validates():
    from evsnn.config import load_config

    cfg = load_config(ROOT / "configs/gpu_check.yaml")
    assert cfg["models"]["gesture_plif_cuda"]["train"]["device"] == "cuda" and cfg["results"] == "results/gpu_check"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_what_was_found():
    from evsnn.errors import ConfigError
    from evsnn.train import resolve_device

    with pytest.raises(ConfigError) as err:
        resolve_device("cuda")
    msg = str(err.value)
    assert "no CUDA device is available here" in msg and torch.__version__ in msg and "\n" not in msg
