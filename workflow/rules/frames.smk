# Event -> frame caches: one HDF5 file per split, the parameters that made it stored in its attributes.


rule frames:
    input:
        manifest=lambda w: manifest_path(frames_cfg(w.frames)["dataset"]),
    output:
        train=f"{RES}/frames/{{frames}}/train.h5",
        test=f"{RES}/frames/{{frames}}/test.h5",
    params:
        frames=lambda w: jsonable(frames_cfg(w.frames)),
        # size and mtime of every raw file the manifest lists: a changed raw file rebuilds exactly its caches
        raw=lambda w: raw_signature(manifest_path(frames_cfg(w.frames)["dataset"])),
        code=lambda w: code(*dataset_task(frames_cfg(w.frames)["dataset"]).entry_modules("build_frames")),
    log:
        f"{RES}/logs/frames/{{frames}}.log",
    benchmark:
        f"{RES}/benchmarks/frames/{{frames}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "../../envs/evsnn.yaml"
    script:
        "../../scripts/build_frames.py"
