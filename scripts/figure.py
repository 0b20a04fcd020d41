"""Rule `<task>_<figure>`: an extra per-model figure a task package declares, drawn from the model's metrics."""
import json

from evsnn.stage import begin
from evsnn.tasks import load_entry

begin(snakemake)  # noqa: F821
metrics = json.loads(open(snakemake.input.metrics).read())  # noqa: F821
load_entry(snakemake.params.func)(metrics, snakemake.output.figure, title=snakemake.params.title)  # noqa: F821
