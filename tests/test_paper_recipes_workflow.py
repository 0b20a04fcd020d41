"""The published recipes (configs/papers) plan through the real Snakefile (dry run), with the real datasets and
the official DHP19 weights replaced by stand-ins."""
import yaml

from _workflow_helpers import copy_project, planned_jobs, smk


def test_paper_recipes_dry_run(tmp_path):
    from evsnn.tasks.gesture.synth import write_dvsgesture_tree

    wf = copy_project(tmp_path / "wf")
    stand_in = tmp_path / "standin" / "DvsGesture"
    write_dvsgesture_tree(stand_in, n_train_users=2, n_test_users=1, lightings=["led"], repeats=1)
    plif = yaml.safe_load((wf / "configs/papers/fang2021_plif.yaml").read_text())
    plif["datasets"]["dvsgesture"].update(source="local", path=str(stand_in))
    (wf / "plif_standin.yaml").write_text(yaml.safe_dump(plif))
    jobs = planned_jobs(smk(wf, "-n", "--configfile", "plif_standin.yaml"))
    assert jobs["train"] == 10 and jobs["evaluate_gesture"] == 10 and jobs["table"] == 1   # 2 entries x 5 seeds

    dhp = yaml.safe_load((wf / "configs/papers/calabrese2019_dhp19.yaml").read_text())
    init = wf / dhp["models"]["dhp19_cnn_official"]["train"]["init"]
    init.parent.mkdir(parents=True)
    init.write_bytes(b"stand-in for the imported DHP_CNN.model")  # a dry run only needs the file to exist
    proc = smk(wf, "-n", "--configfile", "configs/papers/calabrese2019_dhp19.yaml")
    jobs = planned_jobs(proc)
    assert jobs["train"] == 6 and jobs["evaluate_pose"] == 6 and jobs["table"] == 1   # 5 seeds + the official weights
    assert "dhp19_cnn_official.pt" in proc.stdout  # the official weights are an input of their model's train job
