# Tables aggregated over every configured run of a task.


rule gesture_table:
    input:
        summaries=lambda w: expand(f"{RES}/models/{{model}}/summary.json", model=models_of_task("gesture")),
        metrics=lambda w: expand(f"{RES}/eval/{{model}}/metrics.json", model=models_of_task("gesture")),
    output:
        csv=report(f"{RES}/tables/gesture.csv", category="Tables", caption="../report/gesture_table_csv.rst",
                   labels={"table": "DVS128 Gesture (CSV download)"}),
        md=f"{RES}/tables/gesture.md",
        html=report(f"{RES}/tables/gesture.html", category="Tables", caption="../report/gesture_table.rst",
                    labels={"table": "DVS128 Gesture"}),
    params:
        models=lambda w: models_of_task("gesture"),
        configs=lambda w: {m: jsonable(model_cfg(m)) for m in models_of_task("gesture")},
        code=code(*CORE, "tables.py", "report.py"),
    log:
        f"{RES}/logs/tables/gesture.log",
    benchmark:
        f"{RES}/benchmarks/tables/gesture.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/gesture_table.py"


rule pose_table:
    input:
        summaries=lambda w: expand(f"{RES}/models/{{model}}/summary.json", model=models_of_task("pose")),
        metrics=lambda w: expand(f"{RES}/eval/{{model}}/metrics.json", model=models_of_task("pose")),
    output:
        csv=report(f"{RES}/tables/pose.csv", category="Tables", caption="../report/pose_table_csv.rst",
                   labels={"table": "DHP19 pose (CSV download)"}),
        md=f"{RES}/tables/pose.md",
        html=report(f"{RES}/tables/pose.html", category="Tables", caption="../report/pose_table.rst",
                    labels={"table": "DHP19 pose"}),
    params:
        models=lambda w: models_of_task("pose"),
        configs=lambda w: {m: jsonable(model_cfg(m)) for m in models_of_task("pose")},
        code=code(*CORE, "tables.py", "report.py"),
    log:
        f"{RES}/logs/tables/pose.log",
    benchmark:
        f"{RES}/benchmarks/tables/pose.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/pose_table.py"
