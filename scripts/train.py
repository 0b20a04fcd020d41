"""Rule `train`: fit one named model of the config (resumes from its checkpoint)."""
from evsnn.train import RunSpec, fit
from evsnn.stage import begin

begin(snakemake)  # noqa: F821
p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
spec = RunSpec(task=p.task, arch=p.arch, net=p.net, train=p.train, code=p.code)
fit(spec, i.train, i.test, o.model, o.metrics, o.summary, checkpoint=p.checkpoint, tensorboard_dir=p.tensorboard)
