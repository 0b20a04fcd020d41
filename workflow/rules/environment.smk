# What a run used, for `snakemake --report`: the validated config (defaults filled) and the software
# environment (Python, platform, package versions, torch threads / CUDA).


rule environment:
    output:
        config_yaml=report(f"{RES}/report/config.yaml", category="Run", caption="../report/config_yaml.rst",
                           labels={"item": "configuration (YAML download)"}),
        config_html=report(f"{RES}/report/config.html", category="Run", caption="../report/config.rst",
                           labels={"item": "configuration"}),
        environment_html=report(f"{RES}/report/environment.html", category="Run",
                                caption="../report/environment.rst", labels={"item": "software environment"}),
        environment_yaml=f"{RES}/report/environment.yaml",
    params:
        config=jsonable(config),
        code=code("evsnn.report"),
    log:
        f"{RES}/logs/report/environment.log",
    benchmark:
        f"{RES}/benchmarks/report/environment.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/environment.py"
