# Training: one job per named model of the config; resumes from its checkpoint after a kill.


rule train:
    input:
        unpack(lambda w: {**train_inputs(w.model), **init_inputs(w.model)}),
    output:
        model=f"{RES}/models/{{model}}/model.pt",
        metrics=f"{RES}/models/{{model}}/metrics.csv",
        summary=f"{RES}/models/{{model}}/summary.json",
    params:
        task=lambda w: model_cfg(w.model)["task"],
        arch=lambda w: model_cfg(w.model)["arch"],
        net=lambda w: jsonable(model_cfg(w.model)["net"]),
        train=lambda w: jsonable(result_train_settings(model_cfg(w.model)["train"])),
        code=lambda w: model_code(w.model, "evsnn.train", entries=("adapter",)),
        init_roles=lambda w: sorted(init_inputs(w.model)),
        checkpoint=lambda w: f"{RES}/models/{w.model}/checkpoint.pt",
        tensorboard=lambda w: f"{RES}/models/{w.model}/tensorboard",
    log:
        f"{RES}/logs/train/{{model}}.log",
    benchmark:
        f"{RES}/benchmarks/train/{{model}}.tsv"
    threads: lambda w: model_cfg(w.model)["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=lambda w: 60 * 24 if model_cfg(w.model)["train"]["device"] == "cuda" else 60 * 12,
        gpu=lambda w: 1 if model_cfg(w.model)["train"]["device"] == "cuda" else 0,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/train.py"
