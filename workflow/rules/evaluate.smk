# Evaluation of each trained model on its test cache, with figures.


rule evaluate:
    input:
        model=f"{RES}/models/{{model}}/model.pt",
        metrics_csv=f"{RES}/models/{{model}}/metrics.csv",
        summary=f"{RES}/models/{{model}}/summary.json",
        test=lambda w: frames_paths(model_frames(w.model))["test"],
    output:
        metrics=f"{RES}/eval/{{model}}/metrics.json",
        predictions=f"{RES}/eval/{{model}}/predictions.csv",
        confusion=report(f"{RES}/eval/{{model}}/confusion.png", category="{model}", caption="../report/confusion.rst"),
        curves=report(f"{RES}/eval/{{model}}/curves.png", category="{model}", caption="../report/curves.rst"),
    params:
        task=lambda w: model_cfg(w.model)["task"],
        title=lambda w: f"{w.model} ({model_cfg(w.model)['arch']})",
        code=lambda w: f"{code(*CORE, *EVAL_CODE)}-{arch_code(w.model)}",
    log:
        f"{RES}/logs/evaluate/{{model}}.log",
    benchmark:
        f"{RES}/benchmarks/evaluate/{{model}}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/evaluate.py"
