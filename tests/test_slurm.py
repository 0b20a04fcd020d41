"""The workflow on a real single-node SLURM cluster, through snakemake-executor-plugin-slurm and
`--workflow-profile profiles/slurm`, gives the same results as a local run.

tests/slurm/start_cluster.sh installs slurm-wlm + munge if needed (apt-get) and starts munged, slurmctld and
slurmd on this machine; the fixture always stops them again (try/finally, also on SIGTERM; atexit as a fallback;
a cluster left by a SIGKILLed run is stopped by the next start). Needs root; skipped otherwise, or when SLURM
cannot be installed or another SLURM cluster holds the ports (failures instead with EVSNN_REQUIRE=all, as CI
sets it, or EVSNN_REQUIRE=slurm / EVSNN_REQUIRE_SLURM=1).

The demo config made smaller (fewer synthetic recordings, 2 epochs) runs dataset -> frames -> train -> evaluate
as sbatch jobs and, at the same time, locally, in two copies of the project. Training on the CPU with fixed seeds
and the same torch thread count is deterministic, so frame caches, training curves, weights and evaluation must be
equal.
"""
import atexit
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import _require
import pytest
import yaml
from _workflow_helpers import ROOT, SNAKEMAKE, copy_project, smk

pytestmark = pytest.mark.slow

START = ROOT / "tests" / "slurm" / "start_cluster.sh"
STOP = ROOT / "tests" / "slurm" / "stop_cluster.sh"
STATE = "/run/evsnn-slurm-pytest"
MODEL = "gesture_plif"
TARGET = f"results/eval/{MODEL}/metrics.json"
STAGES = ("dataset", "frames", "train", "evaluate")  # rule names, or their prefixes (evaluate_gesture)
PARTITION = "evsnn"  # the cluster's non-default partition, chosen through SLURM_PARTITION


def _script_env():
    return dict(os.environ, EVSNN_SLURM_STATE=STATE, EVSNN_SLURM_OWNER=str(os.getpid()))


def _stop_cluster():
    proc = subprocess.run(["bash", str(STOP)], env=_script_env(), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        print(f"stop_cluster.sh failed ({proc.returncode}): {proc.stderr}")


def _skip(reason):
    """Skip, or fail where the SLURM test must run (CI sets EVSNN_REQUIRE=all; EVSNN_REQUIRE=slurm or the older
    EVSNN_REQUIRE_SLURM=1 require this test alone)."""
    _require.skip(reason, need="slurm")


def _start_cluster():
    """Start the cluster; wait (up to 15 min) while another test run on this machine uses it."""
    deadline = time.monotonic() + 900
    while True:
        proc = subprocess.run(["bash", str(START)], env=_script_env(), capture_output=True, text=True, timeout=900)
        reason = (proc.stderr.strip().splitlines() or [""])[-1]
        if proc.returncode == 75 and time.monotonic() < deadline:
            time.sleep(10)
            continue
        if proc.returncode in (75, 76, 77):
            _skip(f"no SLURM cluster for this test: {reason}")
        assert proc.returncode == 0, f"start_cluster.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        return


def _small_demo_config(wf: Path) -> Path:
    cfg = yaml.safe_load((wf / "config.yaml").read_text())
    cfg["datasets"]["dvsgesture"]["synthetic"].update(n_train_users=2, n_test_users=1, lightings=["led", "natural"],
                                                      repeats=1)
    cfg["models"][MODEL]["train"]["epochs"] = 2
    cfg["models"][MODEL]["train"]["threads"] = 2   # not the demo's 1: train.threads must become --cpus-per-task
    cfg["models"][MODEL].pop("seeds", None)  # one run, named gesture_plif
    path = wf / "slurm_test.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _dry_run_jobs(text: str) -> list[tuple[str, dict]]:
    """(rule, {threads, resources, wildcards}) of each job a dry run lists."""
    jobs = []
    for m in re.finditer(r"^rule (\w+):\n(.*?)(?:\n\n|\Z)", text, re.M | re.S):
        body = m.group(2)
        threads = re.search(r"^\s+threads: (\d+)$", body, re.M)
        resources = re.search(r"^\s+resources: (.*)$", body, re.M).group(1)
        wildcards = re.search(r"^\s+wildcards: (.*)$", body, re.M)
        jobs.append((m.group(1), {"threads": int(threads.group(1)) if threads else 1,
                                  "resources": dict(kv.split("=", 1) for kv in resources.split(", ")),
                                  "wildcards": dict(kv.split("=", 1) for kv in wildcards.group(1).split(", "))
                                  if wildcards else {}}))
    return jobs


def _planned_jobs(text: str) -> dict[str, dict]:
    """Rule -> {threads, resources, wildcards} (each rule runs once for TARGET)."""
    jobs = dict(_dry_run_jobs(text))
    assert len(jobs) == len(_dry_run_jobs(text)), "a rule runs more than once"
    return jobs


def _submissions(text: str) -> dict[str, tuple[str, Path]]:
    """Rule -> (SLURM job id, the plugin's log file of the job), from 'Job N has been submitted ...' lines."""
    subs = {}
    for jobid, log in re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.", text):
        rule = Path(log).parent.parent.name.removeprefix("rule_")
        assert rule not in subs, rule
        subs[rule] = (jobid, Path(log))
    return subs


def _sbatch_calls(text: str) -> dict[str, str]:
    """Rule -> the sbatch command line the plugin logged (--verbose) for it, without the wrapped command."""
    calls = {}
    for line in text.splitlines():
        if line.startswith("sbatch call: "):
            rule = line.split("--comment rule_", 1)[1].split("_wildcards_", 1)[0].split()[0]
            calls[rule] = line.split("--wrap=", 1)[0] + " "
    return calls


class _JobStates:
    """Every job's latest ``squeue`` row, polled every few seconds while the workflow runs (a background thread).

    Finished jobs leave squeue MinJobAge seconds after they end. The test cluster sets MinJobAge=3600
    (tests/slurm/start_cluster.sh), longer than the whole run, and this poller records each job's state as the run
    goes as well, so that neither a slow machine nor a cluster with the default 300 s makes the first jobs vanish
    before the test reads them."""

    FORMAT = "%i|%j|%P|%T|%k|%C|%b"

    def __init__(self, every: float = 5.0):
        import threading

        self.rows: dict[str, list[str]] = {}
        self._every, self._stop = every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        out = subprocess.run(["squeue", "--states=all", "-h", "-o", self.FORMAT], capture_output=True, text=True,
                             timeout=60)
        if out.returncode == 0:
            for row in out.stdout.splitlines():
                self.rows[row.split("|")[0]] = row.split("|")[1:]

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.poll()
            except (OSError, subprocess.SubprocessError) as exc:  # a slow squeue: try again at the next poll
                print(f"squeue poll failed: {exc}")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.poll()  # the final states


def _raise_on_sigterm(signum, frame):
    # pytest ends the session on KeyboardInterrupt; on the way out the fixture's finally stops the cluster
    raise KeyboardInterrupt(f"terminated by signal {signum}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The small demo through sbatch jobs and, meanwhile, locally (the SLURM run mostly waits on polling)."""
    if os.geteuid() != 0:
        _skip("needs root: starts munged, slurmctld and slurmd and writes /etc/slurm/slurm.conf")
    slurm_wf = copy_project(tmp_path_factory.mktemp("slurm") / "wf")
    local_wf = copy_project(tmp_path_factory.mktemp("local") / "wf")
    local = None
    atexit.register(_stop_cluster)  # fallback if the interpreter exits before the finally below
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        _start_cluster()
        # the local run, as the helper smk() runs it, but in the background
        local_log = local_wf / "snakemake.out"
        with open(local_log, "w") as log:
            local = subprocess.Popen([*SNAKEMAKE, "--cores", "2", TARGET, "--configfile",
                                      str(_small_demo_config(local_wf))], cwd=local_wf, stdout=log,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(local_wf / "src")))
        args = [TARGET, "--workflow-profile", "profiles/slurm", "--configfile", str(_small_demo_config(slurm_wf))]
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SLURM_PARTITION", PARTITION)
            mp.setenv("SLURM_ACCOUNT", "")
            plan = smk(slurm_wf, *args, "-n")  # what each job declares (threads, resources)
            # what ran, where, how it ended: recorded while the jobs run (and MinJobAge=3600 in the test cluster)
            with _JobStates() as states:
                proc = smk(slurm_wf, *args, "--verbose", "--slurm-keep-successful-logs", timeout=1200)
        assert local.wait(timeout=1200) == 0, f"local run failed:\n{local_log.read_text()[-6000:]}"
        return SimpleNamespace(slurm=slurm_wf, local=local_wf, out=proc.stdout + proc.stderr,
                               planned=_planned_jobs(plan.stdout + plan.stderr),
                               squeue=states.rows)
    finally:
        if local is not None and local.poll() is None:
            local.kill()
            local.wait()
        for log in Path(STATE).glob("*.log"):  # slurmctld.log, slurmd.log: kept next to the run for diagnosis
            shutil.copy(log, slurm_wf.parent / log.name)
        _stop_cluster()
        signal.signal(signal.SIGTERM, previous_sigterm)
        atexit.unregister(_stop_cluster)


def test_every_rule_ran_as_a_slurm_job(runs):
    planned, submitted = runs.planned, _submissions(runs.out)
    assert all(any(r == s or r.startswith(s + "_") for r in planned) for s in STAGES), planned.keys()
    assert submitted.keys() == planned.keys(), (submitted.keys(), planned.keys())
    names = set()
    for rule, (jobid, log) in submitted.items():
        # the plugin's SLURM log of the job, kept with --slurm-keep-successful-logs
        assert log.is_file() and log.stat().st_size > 0 and log.name == f"{jobid}.log", log
        assert log.is_relative_to(runs.slurm / ".snakemake" / "slurm_logs" / f"rule_{rule}"), log
        # squeue still knows the job: completed, in the partition chosen through SLURM_PARTITION
        name, partition, state, comment, cpus, tres = runs.squeue[jobid]
        assert (partition, state) == (PARTITION, "COMPLETED"), (rule, runs.squeue[jobid])
        assert comment.startswith(f"rule_{rule}_"), (rule, comment)
        assert int(cpus) == planned[rule]["threads"], (rule, cpus)  # the rule's threads became the job's CPUs
        assert "gpu" not in tres, (rule, tres)
        names.add(name)
    assert len(names) == 1  # one snakemake run submitted them all


def test_rule_resources_reach_sbatch(runs):
    calls = _sbatch_calls(runs.out)
    assert calls.keys() == runs.planned.keys()
    for rule, job in runs.planned.items():
        call, res = calls[rule], job["resources"]
        assert f" -p {PARTITION} " in call and " -A " not in call, call
        assert f"--cpus-per-task={job['threads']} " in call, call
        assert f" --mem {res['mem_mb']} " in call and f" -t {res['runtime']} " in call, call
        assert " --requeue " in call, call
        # gpu=0 (the model trains on the CPU) must not turn into --gpus / --gres
        assert res.get("gpu", "0") == "0" and "--gpus" not in call and "--gres" not in call, call
    train = next(job for rule, job in runs.planned.items() if rule.startswith("train"))
    assert train["threads"] == 2 and train["resources"]["gpu"] == "0"          # the config's train.threads


def _h5_contents(path: Path) -> dict:
    import h5py
    import numpy as np

    items = {}
    with h5py.File(path) as h5:
        items["/"] = {k: np.asarray(v).tolist() for k, v in h5.attrs.items()}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                items[name] = (obj.dtype.str, obj.shape, obj[()])
            items[name + "@attrs"] = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}

        h5.visititems(visit)
    return items


def test_frame_caches_identical(runs):
    import numpy as np

    for split in ("train", "test"):
        a = _h5_contents(runs.slurm / f"results/frames/gesture_t8/{split}.h5")
        b = _h5_contents(runs.local / f"results/frames/gesture_t8/{split}.h5")
        assert a.keys() == b.keys()
        assert len([k for k in a if not k.endswith("@attrs") and k != "/"]) >= 2
        for key in a:
            if isinstance(a[key], tuple):
                assert a[key][:2] == b[key][:2], key
                assert np.array_equal(a[key][2], b[key][2]), key
            else:
                assert a[key] == b[key], key


def _rows(path: Path, drop=("seconds",)) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def test_training_and_evaluation_identical(runs):
    import torch

    s, l = runs.slurm / "results", runs.local / "results"
    curve = _rows(s / f"models/{MODEL}/metrics.csv")
    assert len(curve) == 2 and curve == _rows(l / f"models/{MODEL}/metrics.csv")
    summ_s, summ_l = (json.loads((r / f"models/{MODEL}/summary.json").read_text()) for r in (s, l))
    summ_s.pop("train_seconds"), summ_l.pop("train_seconds")
    assert summ_s == summ_l
    ms, ml = (torch.load(r / f"models/{MODEL}/model.pt", weights_only=True) for r in (s, l))
    assert ms["state_dict"].keys() == ml["state_dict"].keys()
    for k in ms["state_dict"]:
        assert torch.equal(ms["state_dict"][k], ml["state_dict"][k]), k
    assert json.loads((s / f"eval/{MODEL}/metrics.json").read_text()) == \
        json.loads((l / f"eval/{MODEL}/metrics.json").read_text())
    assert (s / f"eval/{MODEL}/predictions.csv").read_bytes() == (l / f"eval/{MODEL}/predictions.csv").read_bytes()


def test_gpu_requested_only_for_cuda_models(tmp_path):
    """train asks for gpu=1 when the model's device is cuda, gpu=0 otherwise; the plugin turns 1 into --gpus=1 and
    0 into nothing (no cluster needed)."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    wf = copy_project(tmp_path / "wf")
    cfg = yaml.safe_load((wf / "config.yaml").read_text())
    cfg["models"][MODEL].pop("seeds", None)  # one run, named gesture_plif
    cfg["models"]["gesture_cuda"] = json.loads(json.dumps(cfg["models"][MODEL]))
    cfg["models"]["gesture_cuda"]["train"]["device"] = "cuda"
    (wf / "two.yaml").write_text(yaml.safe_dump(cfg))
    proc = smk(wf, "-n", "--configfile", "two.yaml")
    gpu = {job["wildcards"]["model"]: job["resources"].get("gpu")
           for rule, job in _dry_run_jobs(proc.stdout + proc.stderr) if rule.startswith("train")}
    assert (gpu[MODEL], gpu["gesture_cuda"]) == ("0", "1"), gpu

    class Resources(dict):
        __getattr__ = dict.__getitem__

    params = dict(run_uuid="run", slurm_logfile="log", comment_str="rule_train", account="", partition=" -p gpu",
                  workdir="/w")
    for n, expect in ((0, ""), (1, "--gpus=1")):
        job = SimpleNamespace(resources=Resources(mem_mb=8000, runtime=720, gpu=n), threads=2)
        call = get_submit_command(job, params) + set_gres_string(job)
        assert (expect in call) and ("--gpus" in call) == bool(n) and "--gres" not in call, call
