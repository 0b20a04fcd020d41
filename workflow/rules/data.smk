# Raw data: generate (synthetic), download + verify + extract (download) or locate (local) a dataset's raw
# tree in the real distribution format, and write a manifest that the frame stage depends on.


rule dataset:
    input:
        dataset_inputs,
    output:
        manifest=f"{RES}/data/{{dataset}}/manifest.json",
    params:
        name=lambda w: w.dataset,
        cfg=lambda w: jsonable(dataset_cfg(w.dataset)),
        data_root=config["data_root"],
        code=lambda w: code(*dataset_task(w.dataset).entry_modules("prepare")),
    log:
        f"{RES}/logs/data/{{dataset}}.log",
    benchmark:
        f"{RES}/benchmarks/data/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/prepare_data.py"
