# Evaluation of each trained model on its test cache, with the figures its task package declares: one rule
# definition for every task (rules evaluate_<task>), the task's own outputs read from its face.


for _name in TASKS:
    _task = get_task(_name)

    rule:
        name:
            f"evaluate_{_name}"
        wildcard_constraints:
            model=regex_of(models_of_task(_name)),
        input:
            unpack(evaluate_inputs(_task)),
        output:
            metrics=f"{RES}/eval/{{model}}/metrics.json",
            **evaluate_outputs(_task),
        params:
            task=_name,
            title=lambda w: f"{w.model} ({model_cfg(w.model)['arch']})",
            model_cfg=lambda w: model_record(w.model),
            code=lambda w: model_code(w.model, entries=("evaluate",)),
        log:
            f"{RES}/logs/evaluate/{{model}}.log",
        benchmark:
            f"{RES}/benchmarks/evaluate/{{model}}.tsv"
        threads: lambda w: model_cfg(w.model)["train"]["threads"]   # the model's CPU threads, as in training
        resources:
            mem_mb=4000,
            runtime=60,
        conda:
            "../../envs/evsnn.yaml"
        script:
            "../../scripts/evaluate.py"

    for _fig in _task.figures:

        rule:
            name:
                f"{_name}_{_fig.name}"
            wildcard_constraints:
                model=regex_of(figure_models(_name, _fig)),
            input:
                metrics=f"{RES}/eval/{{model}}/metrics.json",
            output:
                figure=report(f"{RES}/eval/{{model}}/{_fig.filename}", category="{model}",
                              caption=task_caption(_task, _fig.caption),
                              labels={"model": "{model}", "figure": _fig.name.replace("_", " ")}),
            params:
                func=_fig.func,
                title=lambda w: f"{w.model} ({model_cfg(w.model)['arch']})",
                code=code(_fig.func.split(":")[0]),
            log:
                f"{RES}/logs/evaluate/{{model}}_{_fig.name}.log",
            benchmark:
                f"{RES}/benchmarks/evaluate/{{model}}_{_fig.name}.tsv"
            threads: 1
            resources:
                mem_mb=1000,
                runtime=10,
            conda:
                "../../envs/evsnn.yaml"
            script:
                "../../scripts/figure.py"


#: the energy models the cost rule reads (data, not a module: fingerprinted by content)
ENERGY_MODELS_FILE = Path(workflow.basedir) / "src" / "evsnn" / "resources" / "energy_models.yaml"


rule cost:
    """Operation counts (evsnn's and NeuroBench's definitions), firing rates and energy per inference of any
    trained model, from its activity on test samples."""
    input:
        model=f"{RES}/models/{{model}}/model.pt",
        test=lambda w: frames_paths(model_frames(w.model))["test"],
    output:
        cost=f"{RES}/eval/{{model}}/cost.json",
        firing_rates=report(f"{RES}/eval/{{model}}/firing_rates.png", category="{model}",
                            caption="../report/firing_rates.rst",
                            labels={"model": "{model}", "figure": "firing rates"}),
    params:
        samples=config["cost"]["samples"],
        title=lambda w: f"{w.model} ({model_cfg(w.model)['arch']})",
        code=lambda w: model_code(w.model, "evsnn.energy", "evsnn.train", "evsnn.plots"),
        energy_models=code_digest((), ROOTS, extra_files=[ENERGY_MODELS_FILE]),
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
