"""Rule `train`: fit one named model of the config (resumes from its checkpoint)."""
from evsnn.config import RUNTIME_TRAIN_KEYS
from evsnn.errors import ConfigError
from evsnn.train import RunSpec, fit
from evsnn.stage import begin

begin(snakemake)  # noqa: F821
p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
# the params hold the settings a trained model depends on; how the run is executed (threads, data-loader
# workers, the device as written) comes from the config, so changing it does not make the model stale
runtime = snakemake.config["models"][snakemake.wildcards.model]["train"]  # noqa: F821
train = {**p.train, **{k: runtime[k] for k in RUNTIME_TRAIN_KEYS}, "device": runtime["device"]}
if "init" in i.keys():  # train.init as a file: a path, or the model.pt of the model of this config it names
    train["init"] = i.init
spec = RunSpec(task=p.task, arch=p.arch, net=p.net, train=train, code=p.code)
init_from = {key[len("init_"):]: getattr(i, key) for key in p.init_roles}  # earlier stages (train.init_from)
try:
    fit(spec, i.train, i.test, o.model, o.metrics, o.summary, checkpoint=p.checkpoint, tensorboard_dir=p.tensorboard,
        init_from=init_from)
except ConfigError as exc:  # e.g. device: cuda without a GPU: name the model the config entry is about
    raise ConfigError(f"model {snakemake.wildcards.model}: {exc}") from None  # noqa: F821
