import inspect
import subprocess
import sys

from evsnn.models import _builder, static_registry


def test_static_registry_matches_the_imported_builders():
    reg = static_registry()
    assert "plif_net" in reg
    for arch, (task, source, args, module) in reg.items():
        builder = _builder(arch)
        params = inspect.signature(builder).parameters
        real = [p for p in params if p not in ("self", "in_shape", "n_classes")
                and params[p].kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)]
        assert list(args) == real, arch
        # ARCHS lives in the task's model module; a builder may be imported there from a sibling module of the
        # same task package (evsnn.tasks.pose.has_models)
        assert module == f"evsnn.tasks.{task}.models" and source == inspect.getsourcefile(sys.modules[module])
        assert builder.__module__ == module or builder.__module__.startswith(f"evsnn.tasks.{task}."), arch


def test_config_validation_does_not_import_torch():
    code = ("import sys, yaml; from evsnn.config import validate_config; "
            "validate_config(yaml.safe_load(open('config.yaml'))); print('torch' in sys.modules)")
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
