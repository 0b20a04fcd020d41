# Evaluation of each trained model on its test cache, with figures: one rule per task.


rule evaluate_gesture:
    wildcard_constraints:
        model=regex_of(models_of_task("gesture")),
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
        "../../scripts/evaluate_gesture.py"


rule evaluate_pose:
    wildcard_constraints:
        model=regex_of(models_of_task("pose")),
    input:
        model=f"{RES}/models/{{model}}/model.pt",
        metrics_csv=f"{RES}/models/{{model}}/metrics.csv",
        summary=f"{RES}/models/{{model}}/summary.json",
        test=lambda w: frames_paths(model_frames(w.model))["test"],
        train=lambda w: frames_paths(model_frames(w.model))["train"],
        manifest=lambda w: manifest_path(frames_cfg(model_frames(w.model))["dataset"]),
    output:
        metrics=f"{RES}/eval/{{model}}/metrics.json",
        predictions=f"{RES}/eval/{{model}}/predictions.npz",
        overlay=report(f"{RES}/eval/{{model}}/overlay.png", category="{model}", caption="../report/pose_overlay.rst"),
        skeleton=report(f"{RES}/eval/{{model}}/skeleton3d.png", category="{model}", caption="../report/pose_skeleton.rst"),
        per_movement=report(f"{RES}/eval/{{model}}/per_movement.png", category="{model}",
                            caption="../report/pose_per_movement.rst"),
        curves=report(f"{RES}/eval/{{model}}/curves.png", category="{model}", caption="../report/pose_curves.rst"),
    params:
        title=lambda w: f"{w.model} ({model_cfg(w.model)['arch']})",
        code=lambda w: f"{code(*CORE, *POSE_EVAL_CODE)}-{arch_code(w.model)}",
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
        "../../scripts/evaluate_pose.py"


rule pose_time_since_cnn:
    wildcard_constraints:
        model=regex_of(hybrid_models()),
    input:
        metrics=f"{RES}/eval/{{model}}/metrics.json",
    output:
        figure=report(f"{RES}/eval/{{model}}/time_since_cnn.png", category="{model}",
                      caption="../report/pose_time_since_cnn.rst"),
    params:
        title=lambda w: f"{w.model} ({model_cfg(w.model)['arch']})",
        code=code(*CORE, "pose_plots.py", "plots.py"),
    log:
        f"{RES}/logs/evaluate/{{model}}_time_since_cnn.log",
    benchmark:
        f"{RES}/benchmarks/evaluate/{{model}}_time_since_cnn.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/pose_time_since_cnn.py"


rule cost:
    """Operation counts and energy per inference of any trained model, from its activity on test samples."""
    input:
        model=f"{RES}/models/{{model}}/model.pt",
        test=lambda w: frames_paths(model_frames(w.model))["test"],
    output:
        cost=f"{RES}/eval/{{model}}/cost.json",
    params:
        samples=config["cost"]["samples"],
        code=lambda w: f"{code(*CORE, 'energy.py', 'train.py', 'data.py', 'models/__init__.py', 'models/_*.py')}"
        f"-{arch_code(w.model)}",
    log:
        f"{RES}/logs/cost/{{model}}.log",
    benchmark:
        f"{RES}/benchmarks/cost/{{model}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/cost.py"


rule evaluate_depth:
    wildcard_constraints:
        model=regex_of(models_of_task("depth")),
    input:
        model=f"{RES}/models/{{model}}/model.pt",
        metrics_csv=f"{RES}/models/{{model}}/metrics.csv",
        summary=f"{RES}/models/{{model}}/summary.json",
        test=lambda w: frames_paths(model_frames(w.model))["test"],
        train=lambda w: frames_paths(model_frames(w.model))["train"],
    output:
        metrics=f"{RES}/eval/{{model}}/metrics.json",
        predictions=f"{RES}/eval/{{model}}/predictions.npz",
        depth_maps=report(f"{RES}/eval/{{model}}/depth_maps.png", category="{model}",
                          caption="../report/depth_maps.rst"),
        curves=report(f"{RES}/eval/{{model}}/curves.png", category="{model}", caption="../report/depth_curves.rst"),
    params:
        title=lambda w: f"{w.model} ({model_cfg(w.model)['arch']}, "
        f"{model_cfg(w.model)['net'].get('modality', 'binocular')})",
        cutoffs=lambda w: model_cfg(w.model)["train"]["depth_cutoffs"],
        code=lambda w: f"{code(*CORE, *DEPTH_EVAL_CODE)}-{arch_code(w.model)}",
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
        "../../scripts/evaluate_depth.py"
