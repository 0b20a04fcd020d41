# What a run used, for `snakemake --report`: the validated config (defaults filled) and the software
# environment (Python, platform, package versions, torch threads / CUDA).
# The config reaches the script as `snakemake.config` (the validated config of this run); the rule's param is its
# digest, which makes the outputs stale when the config changes without a 13 kB "params have changed" reason.
from evsnn.util import params_digest


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
        config_digest=params_digest(jsonable(config)),
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
