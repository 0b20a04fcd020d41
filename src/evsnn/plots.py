"""Figures (matplotlib, Agg backend), written atomically as PNG."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from evsnn.util import atomic_path  # noqa: E402


def _save(fig, path):
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def save_clip(fig, update, n_frames: int, gif_path, html_path=None, *, fps: float = 4.0, title: str = "",
              note: str = "") -> None:
    """An animated GIF of ``update(i)`` for ``i`` in ``range(n_frames)`` (Pillow, no ffmpeg needed) and, with
    ``html_path``, a page that embeds it: Snakemake's report shows HTML results, and offers a GIF only as a
    download."""
    import base64
    import html as _html

    from matplotlib.animation import FuncAnimation, PillowWriter

    from evsnn.report import write_html

    anim = FuncAnimation(fig, update, frames=n_frames, blit=False, repeat=True)
    with atomic_path(gif_path, suffix=".gif") as tmp:
        anim.save(str(tmp), writer=PillowWriter(fps=fps), dpi=90)
    plt.close(fig)
    if html_path is not None:
        from pathlib import Path

        data = base64.b64encode(Path(gif_path).read_bytes()).decode()
        write_html(html_path, title, (f"<p>{_html.escape(note)}</p>" if note else "")
                   + f'<img alt="{_html.escape(title)}" src="data:image/gif;base64,{data}">')


def plot_gesture_clip(frames, labels, preds, class_names, gif_path, html_path=None, *, title: str = "",
                      fps: float = 3.0, spans_us=None, note: str | None = None) -> None:
    """Samples as they reach the network, time step by time step: ON events red, OFF events blue, each panel
    with its true and predicted class (a label ``None``: "true: unknown"), the clip's frame rate and (``spans_us``:
    (n, T, 2) start / end in µs of each panel's time step) the time each frame covers printed on it.
    ``frames``: ``(n, T, 2, H, W)`` event counts (n up to 6)."""
    frames = np.asarray(frames, dtype=np.float64)
    n, T = frames.shape[:2]
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    extra = 0.25 if spans_us is not None else 0.0
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, (2.9 + extra) * rows + 0.3), squeeze=False)
    scale = [max(np.percentile(f[f > 0], 95), 1.0) if (f > 0).any() else 1.0 for f in frames]
    names = list(class_names)

    def name(c):
        return names[c] if 0 <= c < len(names) else str(c)

    def update(t):
        for k, ax in enumerate(axes.ravel()):
            ax.clear()
            ax.set_xticks([])
            ax.set_yticks([])
            if k >= n:
                ax.axis("off")
                continue
            rgb = np.ones(frames.shape[-2:] + (3,))
            on, off = np.clip(frames[k, t, 1] / scale[k], 0, 1), np.clip(frames[k, t, 0] / scale[k], 0, 1)
            rgb[..., 1] -= np.maximum(on, off)
            rgb[..., 2] -= on
            rgb[..., 0] -= off
            ax.imshow(np.clip(rgb, 0, 1), interpolation="nearest")
            known = labels[k] is not None
            text = f"true: {name(labels[k]) if known else 'unknown'}\npredicted: {name(preds[k])}"
            if spans_us is not None:
                a, b = int(spans_us[k][t][0]), int(spans_us[k][t][1])
                text += f"\nt = {a / 1e6:.3f}-{b / 1e6:.3f} s ({(b - a) / 1000:.3g} ms)"
            ax.set_title(text, fontsize=7, color="C3" if known and labels[k] != preds[k] else "black")
        fig.suptitle(f"{title}\ntime step {t + 1}/{T} at {fps:g} frames/s (ON red, OFF blue)", fontsize=8)
        return []

    fig.tight_layout(rect=(0, 0, 1, 0.9))
    save_clip(fig, update, T, gif_path, html_path, fps=fps, title=title or "test samples",
              note=note if note is not None else "Test samples time step by time step as the network sees them, "
              f"at {fps:g} frames/s, with the true and the predicted class (red title: wrong).")


def plot_confusion(cm, class_names, path, title="Confusion matrix (test)"):
    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    _save(fig, path)


def plot_training_curves(metrics_csv, path, title="", best_epoch=None, metric="acc", scale=100.0,
                         ylabel="accuracy (%)", ylim=(0, 100)):
    df = pd.read_csv(metrics_csv)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for col, style in (("train_loss", "-"), ("val_loss", "--"), ("test_loss", ":")):
        if col in df and df[col].notna().any():
            a1.plot(df["epoch"], df[col], style, label=col.replace("_loss", ""))
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.legend()
    a1.grid(alpha=0.3)
    for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
        col = f"{split}_{metric}"
        if col in df and df[col].notna().any():
            a2.plot(df["epoch"], scale * df[col], style, label=split)
    if best_epoch is not None and best_epoch >= 0:
        a2.axvline(best_epoch, color="grey", lw=0.8, ls="--", label="selected (best val)")
    a2.set_xlabel("epoch")
    a2.set_ylabel(ylabel)
    if ylim is not None:
        a2.set_ylim(*ylim)
    a2.legend()
    a2.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def readable_log_ticks(axis) -> None:
    """Plain decimal labels on a log axis (0.01, 0.1, 1 instead of 10^-2 ...), labelled minor ticks (2, 5) only
    where the axis spans less than two decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def fmt(v, _pos=None):
        return f"{v:g}" if v > 0 else ""

    axis.set_major_locator(LogLocator(base=10))
    axis.set_major_formatter(FuncFormatter(fmt))
    lo, hi = axis.get_view_interval()
    if lo > 0 and hi / lo < 100:
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axis.set_minor_formatter(FuncFormatter(fmt))
    else:
        axis.set_minor_formatter(NullFormatter())


def plot_metric_vs_energy(df: pd.DataFrame, energy_col: str, metric_col: str, path, *, label_col: str = "model",
                          group_col: str | None = None, xlabel: str = "energy per inference (mJ)", ylabel: str = "",
                          title: str = "", lower_is_better: bool = False):
    """One point per model: the task metric against the estimated energy per inference (log scale), labelled with
    the model name, coloured by ``group_col`` (e.g. modality); the hybrid ANN-SNN paper's accuracy-vs-energy
    view of a results table."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    groups = [(None, df)] if group_col is None else list(df.groupby(group_col, sort=True))
    for name, sub in groups:
        ok = sub[energy_col].astype(float) > 0
        ax.scatter(sub.loc[ok, energy_col].astype(float), sub.loc[ok, metric_col].astype(float), s=40,
                   label=None if name is None else str(name), zorder=3)
        for k, (_, row) in enumerate(sub[ok].iterrows()):  # alternate the label side: close points stay legible
            ax.annotate(str(row[label_col]), (float(row[energy_col]), float(row[metric_col])),
                        textcoords="offset points", xytext=(5, 4) if k % 2 == 0 else (5, -11), fontsize=8)
    ax.set_xscale("log")
    readable_log_ticks(ax.xaxis)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel or metric_col)
    ax.grid(alpha=0.3, which="both")
    if group_col is not None:
        ax.legend(fontsize=8)
    ax.set_title(title + (" (lower is better)" if lower_is_better else ""), fontsize=10)
    _save(fig, path)


def plot_seeds(runs: pd.DataFrame, summary: pd.DataFrame, metric_col: str, path, *, ylabel: str = "",
               published: dict | None = None, title: str = ""):
    """Each entry's metric per seed (dots), the mean with its 95 % interval (bar), the published values as dashed
    reference lines; one more panel per swept key: the metric against the key's value."""
    sweep_keys = [c for c in summary.columns if "." in c or c == "frames"]
    fig, axes = plt.subplots(1, 1 + len(sweep_keys), figsize=(6.4 + 3.2 * len(sweep_keys), 4.2), squeeze=False)
    ax = axes[0, 0]
    if metric_col not in summary.columns or not len(summary):
        ax.text(0.5, 0.5, f"no runs with {metric_col}", ha="center", va="center", transform=ax.transAxes)
    else:
        labels = list(summary["model"])
        for i, row in enumerate(summary.itertuples(index=False)):
            row = row._asdict()
            members = runs[runs["group"] == row["model"]]
            ys = [v for v in members[metric_col] if not pd.isna(v)]
            ax.scatter([i] * len(ys), ys, color="0.55", s=14, zorder=2)
            ci = row.get(f"{metric_col}_ci95")
            ax.errorbar([i], [row[metric_col]], yerr=None if ci is None or pd.isna(ci) else [[ci], [ci]], fmt="o",
                        color="C0", capsize=5, zorder=3)
        for j, (name, value) in enumerate((published or {}).items()):
            ax.axhline(value, ls="--", color=f"C{j + 1}", lw=1, label=f"published: {name} ({value:g})")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel or metric_col)
        if published:
            ax.legend(fontsize=7, loc="best")
        ax.grid(axis="y", alpha=0.3)
    for k, key in enumerate(sweep_keys, start=1):
        ax = axes[0, k]
        sub = runs[runs[key] != ""] if key in runs else runs.iloc[:0]
        xs = [json.loads(v) for v in sub[key]] if len(sub) else []
        numeric = all(isinstance(x, (int, float)) for x in xs)
        for base in dict.fromkeys(sub["base"]) if len(sub) else []:
            part = sub[sub["base"] == base]
            xv = [json.loads(v) for v in part[key]]
            ax.scatter(xv if numeric else [str(x) for x in xv], part[metric_col], s=14, label=base)
        ax.set_xlabel(key)
        if numeric and xs and min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
        ax.set_ylabel(ylabel or metric_col)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_firing_rates(rates: dict, path, *, title: str = "", n_samples: int | None = None):
    """Per neuron layer of one model: the firing rate of spiking layers (spikes per neuron and time step) and the
    message rate of sigma-delta layers (non-zero messages per neuron and time step), in network order, from
    ``model_cost``'s ``rates``. A model without spiking or sigma-delta layers gets a figure that says so."""
    names = list(rates)
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.32 * max(len(names), 3)))
    if not names:
        ax.text(0.5, 0.5, "no spiking or sigma-delta layers\n(a conventional network: no firing rates)",
                ha="center", va="center", fontsize=10, transform=ax.transAxes)
        ax.set_axis_off()
    else:
        colours = {"spikes": "tab:blue", "messages": "tab:orange"}
        vals = [100 * rates[k]["rate"] for k in names]
        y = np.arange(len(names))
        ax.barh(y, vals, color=[colours.get(rates[k]["kind"], "grey") for k in names])
        for yi, v in zip(y, vals):
            ax.text(v, yi, f" {v:.3g} %", va="center", fontsize=7)
        ax.set_yticks(y, [f"{k} ({rates[k]['type']})" for k in names], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, max(max(vals) * 1.25, 1.0))
        ax.set_xlabel("events per neuron and time step (%)")
        ax.grid(alpha=0.3, axis="x")
        for kind, label in (("spikes", "firing rate (spiking)"), ("messages", "message rate (sigma-delta)")):
            if any(rates[k]["kind"] == kind for k in names):
                ax.barh([], [], color=colours[kind], label=label)
        ax.legend(fontsize=7, loc="lower right")
    sub = f" ({n_samples} test samples)" if n_samples else ""
    ax.set_title(f"{title}: per-layer activity{sub}" if title else f"per-layer activity{sub}", fontsize=9)
    _save(fig, path)
