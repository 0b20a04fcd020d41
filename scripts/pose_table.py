"""Rule `pose_table`: DHP19 pose results over all configured runs (CSV + Markdown + HTML)."""
from evsnn.plots import plot_metric_vs_energy
from evsnn.tables import COST_NOTES, collect_runs, pose_table, write_html_table, write_table
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
runs = collect_runs(p.models, p.configs, i.summaries, i.metrics, i.costs, p.lava_models, i.lava)
df = pose_table(runs)
notes = [
    "mpjpe_2d_camN: 2D MPJPE in pixels of the 260x344 CNN input, test split; mpjpe_3d: 3D MPJPE (mm) by triangulating "
    "the front cameras 2 and 3",
    "baseline rows: the constant mean pose of the training set",
    "published (real DHP19, test S13-S17): DHP19 CNN 3D MPJPE 79.63 mm; hybrid repo 2D MPJPE CNN cam3 5.03 / "
    "cam2 4.67 px, hybrid CNN-SNN cam3 5.17 / cam2 5.10 px",
    *COST_NOTES,
]
write_table(df, o.csv, o.md, "DHP19 pose: 2D (px) and 3D (mm) joint errors", notes=notes)
write_html_table(df, o.html, "DHP19 pose: 2D (px) and 3D (mm) joint errors", notes=notes)
plot_metric_vs_energy(df, "energy_mJ_fp32", "mpjpe_3d_mm", o.energy, ylabel="3D MPJPE (mm)", lower_is_better=True,
                      title="DHP19 pose: 3D error against energy per inference")
