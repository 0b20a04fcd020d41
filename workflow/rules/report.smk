# Tables aggregated over every configured run of a task: one rule for every task, the columns, notes and
# published reference rows coming from the task package.


rule table:
    input:
        unpack(lambda w: table_inputs(w.task)),
    output:
        csv=report(f"{RES}/tables/{{task}}.csv", category="Tables", caption="../report/table_csv.rst",
                   labels=lambda w: {"table": f"{get_task(w.task).title} (CSV download)"}),
        md=f"{RES}/tables/{{task}}.md",
        runs_csv=f"{RES}/tables/{{task}}_runs.csv",
        headline=f"{RES}/tables/{{task}}_headline.json",
        seeds=report(f"{RES}/tables/{{task}}_seeds.png", category="Tables", caption="../report/seeds_plot.rst",
                     labels=lambda w: {"table": f"{get_task(w.task).title}: every seed"}),
        html=report(f"{RES}/tables/{{task}}.html", category="Tables", caption="../report/table.rst",
                    labels=lambda w: {"table": get_task(w.task).title}),
        energy=report(f"{RES}/tables/{{task}}_energy.png", category="Tables", caption="../report/energy_plot.rst",
                      labels=lambda w: {"table": f"{get_task(w.task).title}: metric against energy"}),
    wildcard_constraints:
        task=regex_of(TASKS),
    params:
        task=lambda w: w.task,
        title=lambda w: get_task(w.task).title,
        caption=lambda w: table_caption(w.task),
        models=lambda w: models_of_task(w.task),
        lava_models=lambda w: lava_models(w.task),
        nir_models=lambda w: nir_models(w.task) + nir_check_models(w.task),
        configs=lambda w: {m: model_record(m) for m in models_of_task(w.task)},
        code=lambda w: code("evsnn.tables", "evsnn.plots", *get_task(w.task).entry_modules("table")),
    log:
        f"{RES}/logs/tables/{{task}}.log",
    benchmark:
        f"{RES}/benchmarks/tables/{{task}}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/table.py"


rule summary:
    """The results summary the report opens on (workflow/report/workflow.rst embeds summary_body.html)."""
    input:
        headlines=[t["headline"] for t in summary_tasks()],
        energy=[t["energy_png"] for t in summary_tasks()],
        manifests=sorted({d["manifest"] for t in summary_tasks() for d in t["datasets"]}),
    output:
        html=report(f"{RES}/report/summary.html", category="Results summary", caption="../report/summary.rst",
                    labels={"item": "results summary"}),
        body=f"{RES}/report/summary_body.html",
    params:
        tasks=summary_tasks(),
        code=code("evsnn.summary"),
    log:
        f"{RES}/logs/report/summary.log",
    benchmark:
        f"{RES}/benchmarks/report/summary.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/summary.py"
