"""Rule `gesture_table`: DVS128 Gesture results over all configured runs (CSV + Markdown + HTML)."""
from evsnn.plots import plot_metric_vs_energy
from evsnn.tables import COST_NOTES, collect_runs, gesture_table, write_html_table, write_table
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
runs = collect_runs(p.models, p.configs, i.summaries, i.metrics, i.costs, p.lava_models, i.lava)
df = gesture_table(runs)
TITLE = "DVS128 Gesture: test accuracy (%)"
NOTES = [
    "test_acc_val_selected: test accuracy of the epoch with the best validation accuracy (PLIF paper accuracy-B)",
    "test_acc_max: maximum test accuracy over all epochs (PLIF paper accuracy-A)",
    "published (real data, PLIF, T=20): 97.57 % accuracy-A, 96.53 % accuracy-B (Fang et al. ICCV 2021)",
    *COST_NOTES,
]
write_table(df, o.csv, o.md, TITLE, notes=NOTES)
write_html_table(df, o.html, TITLE, notes=NOTES)
plot_metric_vs_energy(df, "energy_mJ_fp32", "test_acc_eval", o.energy, ylabel="test accuracy (%)",
                      title="DVS128 Gesture: accuracy against energy per inference")
