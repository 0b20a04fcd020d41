# Tables aggregated over every configured run of a task.


rule gesture_table:
    input:
        unpack(lambda w: table_inputs("gesture")),
    output:
        csv=report(f"{RES}/tables/gesture.csv", category="Tables", caption="../report/gesture_table_csv.rst",
                   labels={"table": "DVS128 Gesture (CSV download)"}),
        md=f"{RES}/tables/gesture.md",
        html=report(f"{RES}/tables/gesture.html", category="Tables", caption="../report/gesture_table.rst",
                    labels={"table": "DVS128 Gesture"}),
        energy=report(f"{RES}/tables/gesture_energy.png", category="Tables", caption="../report/energy_plot.rst",
                      labels={"table": "DVS128 Gesture: metric against energy"}),
    params:
        models=lambda w: models_of_task("gesture"),
        lava_models=lambda w: lava_models("gesture"),
        configs=lambda w: {m: jsonable(model_cfg(m)) for m in models_of_task("gesture")},
        code=code(*CORE, "tables.py", "report.py", "plots.py"),
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
        unpack(lambda w: table_inputs("pose")),
    output:
        csv=report(f"{RES}/tables/pose.csv", category="Tables", caption="../report/pose_table_csv.rst",
                   labels={"table": "DHP19 pose (CSV download)"}),
        md=f"{RES}/tables/pose.md",
        html=report(f"{RES}/tables/pose.html", category="Tables", caption="../report/pose_table.rst",
                    labels={"table": "DHP19 pose"}),
        energy=report(f"{RES}/tables/pose_energy.png", category="Tables", caption="../report/energy_plot.rst",
                      labels={"table": "DHP19 pose: metric against energy"}),
    params:
        models=lambda w: models_of_task("pose"),
        lava_models=lambda w: lava_models("pose"),
        configs=lambda w: {m: jsonable(model_cfg(m)) for m in models_of_task("pose")},
        code=code(*CORE, "tables.py", "report.py", "plots.py"),
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


rule depth_table:
    input:
        unpack(lambda w: table_inputs("depth")),
    output:
        csv=report(f"{RES}/tables/depth.csv", category="Tables", caption="../report/depth_table_csv.rst",
                   labels={"table": "MVSEC depth (CSV download)"}),
        md=f"{RES}/tables/depth.md",
        html=report(f"{RES}/tables/depth.html", category="Tables", caption="../report/depth_table.rst",
                    labels={"table": "MVSEC depth"}),
        energy=report(f"{RES}/tables/depth_energy.png", category="Tables", caption="../report/energy_plot.rst",
                      labels={"table": "MVSEC depth: metric against energy"}),
    params:
        models=lambda w: models_of_task("depth"),
        configs=lambda w: {m: jsonable(model_cfg(m)) for m in models_of_task("depth")},
        code=code(*CORE, "tables.py", "report.py", "plots.py"),
    log:
        f"{RES}/logs/tables/depth.log",
    benchmark:
        f"{RES}/benchmarks/tables/depth.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/depth_table.py"
