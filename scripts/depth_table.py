"""Rule `depth_table`: MVSEC depth results over all configured runs (CSV + Markdown + HTML)."""
from evsnn.plots import plot_metric_vs_energy
from evsnn.tables import COST_NOTES, collect_runs, depth_table, write_html_table, write_table
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
runs = collect_runs(p.models, p.configs, i.summaries, i.metrics, i.costs)
df = depth_table(runs)
TITLE = "MVSEC depth: mean depth error (cm) and energy per inference (mJ)"
NOTES = [
    "type: SNN (spiking encoder-decoder), HNN (hybrid: an ANN pass initialises the SNN), ANN (same skeleton, ReLU); "
    "modality: binocular (both cameras) or monocular (left camera)",
    "mean_depth_error_cm: mean |prediction - ground truth| over the valid (lidar) pixels of each test depth map, "
    "averaged over maps; mdeN_cm: the same over pixels closer than N m; baseline_constant_cm: the median training "
    "depth everywhere",
    "energy_mJ: MACs x 4.6 pJ + ACs x 0.9 pJ (Horowitz, ISSCC 2014, 45 nm, 32-bit float), from the trained model's "
    "activity on test samples (the column energy_mJ_fp32 of the other tables)",
    "published (real MVSEC indoor_flying split 1, UNVERIFIED): DDES about 16.7 cm, StereoSpike about 18.5 cm",
    *COST_NOTES[:2],
]
write_table(df, o.csv, o.md, TITLE, notes=NOTES)
write_html_table(df, o.html, TITLE, notes=NOTES)
plot_metric_vs_energy(df, "energy_mJ", "mean_depth_error_cm", o.energy, group_col="modality",
                      ylabel="mean depth error (cm)", lower_is_better=True,
                      title="MVSEC depth: error against energy per inference")
