"""What exists: every architecture of every task with its parameter count at the paper's settings, whether it
is spiking, hybrid or conventional, and whether the workflow deploys it to Lava (``python -m evsnn models``)."""
from __future__ import annotations

import glob
from pathlib import Path

import yaml

#: the input of an architecture whose builder has no default input shape (the real dataset at full resolution)
PAPER_INPUTS = {"gesture": {"in_shape": (2, 128, 128), "n_classes": 11}}

_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def paper_nets(config_dir: str | Path = _CONFIGS) -> dict[str, tuple[dict, str]]:
    """arch -> (net settings, where from) of the first model using it in configs/paper.yaml, then
    configs/papers/*.yaml (read as data)."""
    out: dict[str, tuple[dict, str]] = {}
    files = [Path(config_dir) / "paper.yaml", *sorted(Path(p) for p in glob.glob(str(Path(config_dir) / "papers/*.yaml")))]
    for f in files:
        if not f.is_file():
            continue
        cfg = yaml.safe_load(f.read_text()) or {}
        for name, m in (cfg.get("models") or {}).items():
            if isinstance(m, dict) and m.get("arch") and m["arch"] not in out:
                out[m["arch"]] = (dict(m.get("net") or {}), f"{f.parent.name}/{f.name}:{name}" if f.parent.name ==
                                  "papers" else f"{f.name}:{name}")
    return out


def _neuron_layers(model) -> int:
    """Spiking or sigma-delta neuron modules of a model (spikingjelly, lava-dl slayer, evsnn's own)."""
    n = 0
    for mod in model.modules():
        path = f"{type(mod).__module__}.{type(mod).__name__}".lower()
        if ("spikingjelly" in path and ".neuron" in path) or ("slayer" in path and ("neuron" in path or "block" in path)) \
                or "evsnn.models._neurons" in path or "node" in type(mod).__name__.lower():
            n += 1
    return n


def kind_of(arch: str, model) -> str:
    """spiking (spiking or sigma-delta neurons throughout), hybrid (a conventional stage beside a spiking one, the
    hybrid architectures) or conventional (no spiking neuron: ANNs, RNNs, the CNN-RNN hybrids of two ANNs)."""
    if not _neuron_layers(model):
        return "conventional"
    return "hybrid" if "hybrid" in arch else "spiking"


def catalog(task: str | None = None) -> list[dict]:
    """One record per architecture: task, arch, kind, lava, parameters (all, at the paper's settings), the
    settings used and where they come from."""
    import torch

    from evsnn.models import build_model, count_parameters, lava_dl_archs, static_registry

    nets = paper_nets()
    lava = lava_dl_archs()
    rows = []
    for arch, (t, _src, _args, _module) in sorted(static_registry().items(), key=lambda kv: (kv[1][0], kv[0])):
        if task and t != task:
            continue
        net, where = nets.get(arch, ({}, "builder defaults"))
        data = PAPER_INPUTS.get(t, {})
        row = {"task": t, "arch": arch, "lava": arch in lava, "settings": where}
        try:
            try:
                with torch.device("meta"):
                    model = build_model(arch, net, **data)
            except Exception:  # noqa: BLE001 - a builder that computes on its weights: build it for real
                model = build_model(arch, net, **data)
            row["parameters"] = count_parameters(model, trainable_only=False)
            row["kind"] = kind_of(arch, model)
        except Exception as exc:  # noqa: BLE001 - one architecture that cannot be built does not hide the others
            row["parameters"] = None
            row["kind"] = "?"
            row["error"] = " ".join(str(exc).split())[:160]
        rows.append(row)
    return rows


def format_catalog(rows: list[dict]) -> str:
    head = ("task", "architecture", "parameters", "kind", "Lava", "settings")
    table = [head] + [(r["task"], r["arch"], f"{r['parameters']:,}" if r["parameters"] is not None else "?",
                       r["kind"], "yes" if r["lava"] else "no", r.get("error") or r["settings"]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    lines = []
    for k, row in enumerate(table):
        cells = [str(c).rjust(w) if i == 2 and k else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + ("\n\nparameters: all of them (staged hybrids train fewer: their CNN is frozen), at the "
                               "settings named (the paper configs, on the real dataset's input size)\nkind: spiking, "
                               "hybrid (a conventional and a spiking stage) or conventional (no spiking neuron)\n"
                               "Lava: exported to netx and run in Lava by the workflow")
