"""The environment definitions stay consistent: conda pins == pip pins, constraints honoured."""
import re
from pathlib import Path

import yaml

ENVS = Path(__file__).resolve().parents[1] / "envs"


def reqs(path):
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = re.split(r"[<>=!~ ]", line, maxsplit=1)[0].lower()
            out[name] = line
    return out


def test_conda_env_pins_match_pip_pins():
    pip = reqs(ENVS / "requirements.txt")
    conda = yaml.safe_load((ENVS / "evsnn.yaml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    conda_pins = {re.split(r"[<>=!~ ]", s, maxsplit=1)[0].lower(): s for s in pip_section}
    assert "python=3.11" in conda["dependencies"]
    for name, spec in conda_pins.items():
        assert name in pip, f"{name} in envs/evsnn.yaml but not in envs/requirements.txt"
        assert spec == pip[name], f"{name}: conda pins {spec!r}, pip pins {pip[name]!r}"
    workflow_only = {"snakemake", "snakemake-executor-plugin-slurm", "pytest"}
    assert set(pip) - set(conda_pins) <= workflow_only


def test_constraints_pin_what_requirements_pin():
    pip, cons = reqs(ENVS / "requirements.txt"), reqs(ENVS / "constraints.txt")
    for name, spec in cons.items():
        assert "==" in spec
        if name in pip and "==" in pip[name]:
            assert pip[name] == spec
    assert cons["torch"] == "torch==2.13.0" and cons["numpy"].startswith("numpy==1.")


def test_nodeps_packages_pinned():
    nodeps = reqs(ENVS / "requirements-nodeps.txt")
    assert set(nodeps) == {"spikingjelly", "lava-nc", "lava-dl", "norse"}
    assert all("==" in s for s in nodeps.values())


def test_nir_stack_pinned_and_sinabs_left_out():
    """The NIR frameworks are pinned where the install puts them; sinabs (nir<=1.0.4) would break the exporter."""
    pip, nodeps = reqs(ENVS / "requirements.txt"), reqs(ENVS / "requirements-nodeps.txt")
    assert pip["nir"] == "nir==1.0.8" and pip["nirtorch"] == "nirtorch==2.6" and pip["snntorch"] == "snntorch==1.0.0"
    assert nodeps["norse"] == "norse==1.1.0" and "norse" not in pip
    assert "sinabs" not in pip and "sinabs" not in nodeps


def test_lava_patches_are_idempotent(tmp_path):
    """envs/install.sh may run again (changed pins): patching twice must leave valid, once-patched sources."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("patch_lava", ENVS / "patch_lava.py")
    patch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(patch)
    slayer = tmp_path / "lava/lib/dl/slayer/__init__.py"
    var_model = tmp_path / "lava/magma/compiler/var_model.py"
    slayer.parent.mkdir(parents=True)
    var_model.parent.mkdir(parents=True)
    slayer.write_text("from . import utils\nfrom . import object_detection as obd\n\n__all__ = ['utils', 'obd']\n")
    var_model.write_text("from dataclasses import dataclass, InitVar\n\n\nclass ByteEncoder:\n    pass\n\n\n"
                         "@dataclass\nclass Enc:\n    x: ByteEncoder = ByteEncoder()\n")
    for _ in range(3):
        patch.patch_slayer_init(tmp_path)
        patch.patch_var_model(tmp_path)
    text = slayer.read_text()
    assert text.count("from . import object_detection as obd") == 1 and text.count("try:") == 1
    compile(text, str(slayer), "exec")
    vm = var_model.read_text()
    assert "field(default_factory=ByteEncoder)" in vm and vm.count("field") == 2
    ns: dict = {}
    exec(compile(vm, str(var_model), "exec"), ns)  # a mutable default would raise ValueError on 3.11
    assert ns["Enc"]().x is not ns["Enc"]().x


def test_benchmark_anchors_are_separate_from_runtime_pins():
    """tonic, evlib & co. are installed by `make bench` from their own file, pinned, never runtime requirements."""
    bench = reqs(ENVS / "requirements-bench.txt")
    runtime = reqs(ENVS / "requirements.txt")
    assert {"tonic", "evlib", "aedat", "expelliarmus"} <= set(bench)
    assert all("==" in bench[k] for k in ("tonic", "evlib", "aedat", "expelliarmus"))
    assert not ({"tonic", "evlib", "aedat", "expelliarmus"} & set(runtime))
    make = (ENVS.parent / "Makefile").read_text()
    bench_rule = make.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    assert "-r envs/requirements-bench.txt" in bench_rule and "-c envs/constraints.txt" in bench_rule
    assert runtime["faery"] == "faery==0.7.1"  # the runtime decoder of AEDAT 4.0 / EVT / DAT
