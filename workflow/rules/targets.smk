# A target path that names no model, frames entry or dataset of the config: one sentence naming the ones that exist
# (instead of Snakemake's generic "No rule to produce ..."), raised while the DAG is built, dry runs included.


rule unknown_target:
    input:
        _unknown_name,
    output:
        f"{RES}/{{stage}}/{{name}}/{{file}}",
    wildcard_constraints:
        stage="models|eval|lava|nir|frames|data",
        name=_known(sorted(set(MODELS) | set(FRAMES) | set(DATASETS))),
    log:
        f"{RES}/logs/unknown_target/{{stage}}/{{name}}/{{file}}.log",
    localrule: True
    shell:
        "false"
