# Neuromorphic deployment of every lava-dl model: netx export, then inference in Lava (Loihi2SimCfg fixed_pt, CPU)
# on cached test samples, with the same metrics as the PyTorch model and a layer-by-layer parity check.

rule export_netx:
    wildcard_constraints:
        model=regex_of(lava_models()),
    input:
        model=f"{RES}/models/{{model}}/model.pt",
    output:
        net=f"{RES}/lava/{{model}}/network.net",
        summary=f"{RES}/lava/{{model}}/export.json",
    params:
        code=lambda w: model_code(w.model, "evsnn.lava.deploy", "evsnn.lava.export"),
    log:
        f"{RES}/logs/lava/{{model}}_export.log",
    benchmark:
        f"{RES}/benchmarks/lava/{{model}}_export.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/export_netx.py"


rule lava_run:
    wildcard_constraints:
        model=regex_of(lava_models()),
    input:
        net=f"{RES}/lava/{{model}}/network.net",
        model=f"{RES}/models/{{model}}/model.pt",
        test=lambda w: frames_paths(model_frames(w.model))["test"],
        manifest=lambda w: model_manifest(w.model),
    output:
        metrics=f"{RES}/lava/{{model}}/metrics.json",
        parity=f"{RES}/lava/{{model}}/parity.json",
        outputs=f"{RES}/lava/{{model}}/outputs.npz",
    params:
        samples=config["lava"]["samples"],
        parity_samples=config["lava"]["parity_samples"],
        code=lambda w: model_code(w.model, "evsnn.lava.deploy", "evsnn.lava.run", "evsnn.lava.parity",
                                  entries=("lava",)),
    log:
        f"{RES}/logs/lava/{{model}}_run.log",
    benchmark:
        f"{RES}/benchmarks/lava/{{model}}_run.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/lava_run.py"
