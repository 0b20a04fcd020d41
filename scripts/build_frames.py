"""Rule `frames`: raw recordings -> frame caches (one HDF5 file per split), by the task package of the kind."""
import json

from evsnn.stage import begin
from evsnn.tasks import task_of_kind

begin(snakemake)  # noqa: F821
manifest = json.loads(open(snakemake.input.manifest).read())  # noqa: F821
task_of_kind(manifest["kind"]).call("build_frames", manifest, snakemake.params.frames,  # noqa: F821
                                    snakemake.output.train, snakemake.output.test)  # noqa: F821
