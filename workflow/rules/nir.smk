# NIR (Neuromorphic Intermediate Representation) export of every spiking model NIR can express, and the exported
# file run in spikingjelly, snnTorch and Norse on the cached test samples of the Lava stage, with the task's metric
# and the spike-by-spike parity with the PyTorch model. The other spiking models get the layer that stops them.

rule export_nir:
    wildcard_constraints:
        model=regex_of(nir_models()),
    input:
        model=f"{RES}/models/{{model}}/model.pt",
    output:
        nir=f"{RES}/nir/{{model}}/model.nir",
        summary=f"{RES}/nir/{{model}}/export.json",
    params:
        code=lambda w: model_code(w.model, "evsnn.nirx.deploy", "evsnn.nirx.export"),
    log:
        f"{RES}/logs/nir/{{model}}_export.log",
    benchmark:
        f"{RES}/benchmarks/nir/{{model}}_export.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/export_nir.py"


rule nir_run:
    wildcard_constraints:
        model=regex_of(nir_models()),
    input:
        nir=f"{RES}/nir/{{model}}/model.nir",
        model=f"{RES}/models/{{model}}/model.pt",
        test=lambda w: frames_paths(model_frames(w.model))["test"],
        manifest=lambda w: model_manifest(w.model),
    output:
        metrics=f"{RES}/nir/{{model}}/metrics.json",
    params:
        samples=config["nir"]["samples"],
        frameworks=config["nir"]["frameworks"],
        code=lambda w: model_code(w.model, "evsnn.nirx.deploy", "evsnn.nirx.frameworks", "evsnn.nirx.graph",
                                  entries=("lava",)),
    log:
        f"{RES}/logs/nir/{{model}}_run.log",
    benchmark:
        f"{RES}/benchmarks/nir/{{model}}_run.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/nir_run.py"


rule nir_check:
    wildcard_constraints:
        model=regex_of(nir_check_models()),
    input:
        model=f"{RES}/models/{{model}}/model.pt",
    output:
        metrics=f"{RES}/nir/{{model}}/metrics.json",
    params:
        code=lambda w: model_code(w.model, "evsnn.nirx.deploy", "evsnn.nirx.export"),
    log:
        f"{RES}/logs/nir/{{model}}_check.log",
    benchmark:
        f"{RES}/benchmarks/nir/{{model}}_check.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/nir_check.py"
