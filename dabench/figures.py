"""The paper's figures, drawn from measured arrays and run files (matplotlib, Agg backend, PNG).

* :func:`adaptation_grid` — CDLM Fig. 2: a row of target test images, their translations beneath (and the
  true source-domain images when the task is paired);
* :func:`tsne_plot` — Fig. 4: t-SNE of source vs target features / latent codes
  (coordinates from :func:`dabench.protocols.tsne.tsne_embedding`);
* :func:`pad_bars` — Fig. 6: proxy A-distance of raw / DANN / CDLM features on several tasks
  (input: a dict of numbers, e.g. from :func:`pad_values` over the runs' ``pad`` evaluations);
* :func:`error_curves` — Fig. 7: target test error vs training step from the runs' evaluation lines.

Run files are read through :class:`dabench.rundir.RunDir`, which alone knows their names.

Every function writes one PNG of exactly ``figsize · dpi`` pixels (constrained layout, no tight bounding box)
atomically, and returns its path. Nothing here computes a metric.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

from dabench import io  # noqa: E402
from dabench.protocols.grid import adaptation_grid as grid_mosaic  # noqa: E402
from dabench.rundir import RunDir  # noqa: E402

DOMAIN_COLOURS = {1: "tab:blue", 0: "tab:red"}  # CDLM Fig. 4: source blue, target red


def _save(fig, path: Path, dpi: int) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (:func:`dabench.io.atomic`); close it."""
    path = Path(path)
    try:
        io.atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    finally:
        plt.close(fig)
    return path


def adaptation_grid(rows: Sequence, row_labels: Sequence[str], path: Path, *, title: str = "Adaptation grid",
                    figsize: tuple[float, float] = (8.0, 3.6), dpi: int = 100) -> Path:
    """Fig. 2: image rows (``[N, C, H, W]`` in [0, 1] each) stacked, one labelled row per array.

    Args:
        rows: e.g. [target images, their translations, the true source images].
        row_labels: one label per row, shown on the y axis.
        path: the PNG to write.
    """
    if len(row_labels) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(row_labels)} row labels")
    mosaic = grid_mosaic(rows)
    n, h = np.asarray(rows[0]).shape[0], np.asarray(rows[0]).shape[2]
    pad = (mosaic.shape[0] - len(rows) * h) / (len(rows) + 1)
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(len(rows))], list(row_labels))
    ax.set_xticks([pad + i * (h + pad) + h / 2 for i in range(n)], [str(i + 1) for i in range(n)])
    ax.set_xlabel("test example")
    ax.tick_params(length=0)
    ax.set_title(title)
    return _save(fig, path, dpi)


def tsne_plot(embedding, domain, path: Path, *, title: str = "t-SNE of source and target features",
              labels: tuple[str, str] = ("source", "target"), figsize: tuple[float, float] = (6.0, 6.0),
              dpi: int = 100) -> Path:
    """Fig. 4: 2-D points coloured by domain (``domain`` 1 = source, blue; 0 = target, red)."""
    embedding, domain = np.asarray(embedding), np.asarray(domain)
    if embedding.ndim != 2 or embedding.shape[1] != 2 or len(domain) != len(embedding):
        raise ValueError(f"need an [n, 2] embedding and n domain flags; got {embedding.shape} and {domain.shape}")
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for flag, label in ((1, labels[0]), (0, labels[1])):
        pts = embedding[domain == flag]
        ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.6, c=DOMAIN_COLOURS[flag], label=f"{label} (n={len(pts)})",
                   linewidths=0)
    ax.set_xlabel("t-SNE dimension 1")
    ax.set_ylabel("t-SNE dimension 2")
    ax.set_title(title)
    ax.legend(loc="best", markerscale=3)
    return _save(fig, path, dpi)


def pad_bars(values: Mapping[str, Mapping[str, float]], path: Path, *,
             title: str = "Proxy A-distance between source and target", figsize: tuple[float, float] = (7.0, 4.0),
             dpi: int = 100) -> Path:
    """Fig. 6: grouped bars, one group per task, one bar per feature set (e.g. raw, DANN, CDLM).

    Args:
        values: task → feature set → d_A in [0, 2] (a missing feature set leaves a gap).
    """
    tasks = list(values)
    sets = list(dict.fromkeys(k for task in tasks for k in values[task]))
    if not tasks or not sets:
        raise ValueError("pad_bars needs at least one task with one value")
    width = 0.8 / len(sets)
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for j, name in enumerate(sets):
        xs = [i + (j - (len(sets) - 1) / 2) * width for i, t in enumerate(tasks) if name in values[t]]
        ys = [float(values[t][name]) for t in tasks if name in values[t]]
        bars = ax.bar(xs, ys, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylim(0.0, 2.15)
    ax.set_xlabel("task (source → target)")
    ax.set_ylabel("proxy A-distance $d_A$")
    ax.set_title(f"{title}\n(linear SVM; 2 = perfectly separable, 0 = indistinguishable)", fontsize=10)
    ax.legend(title="features", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: bars reach the top
    return _save(fig, path, dpi)


def error_curves(runs: Mapping[str, Path | Sequence[dict]], path: Path, *, metric: str = "tgt_test/acc",
                 title: str = "Target test error during training", figsize: tuple[float, float] = (7.0, 4.0),
                 dpi: int = 100) -> Path:
    """Fig. 7: ``1 − metric`` against the training step, one line per run.

    Args:
        runs: label → a run directory (its evaluation lines are read through :class:`RunDir`) or already-read
            evaluation lines.
        metric: the accuracy whose error is drawn (target test accuracy by default; plots only, it is never
            used to select anything).
    """
    series = {}  # every run is read and checked before a figure is opened
    for label, source in runs.items():
        if isinstance(source, (str, Path)) and not Path(source).is_dir():
            raise ValueError(f"run '{label}': {source} is not a run directory")
        lines = RunDir(Path(source)).read_metrics() if isinstance(source, (str, Path)) else list(source)
        points = [(ln["step"], 1.0 - ln[metric]) for ln in lines if metric in ln]
        if not points:
            raise ValueError(f"run '{label}' has no '{metric}' values")
        series[label] = tuple(zip(*sorted(points)))
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for label, (steps, errors) in series.items():
        ax.plot(steps, errors, marker="o", markersize=3, label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"target test error (1 − {metric})")
    ax.set_ylim(bottom=0.0)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend()
    return _save(fig, path, dpi)


def pad_values(run_dirs: Mapping[str, Mapping[str, Path]], kind: str = "features") -> dict[str, dict[str, float]]:
    """Fig. 6's input from the runs' ``pad`` evaluations (read through :class:`RunDir`): task → feature set → d_A.

    Args:
        run_dirs: task → {feature-set label → run directory}; the label ``"raw"`` takes the raw-pixel d_A of
            its run, any other label the ``kind`` entry (``"features"`` or ``"translated"``).
    """
    out: dict[str, dict[str, float]] = {}
    for task, by_label in run_dirs.items():
        for label, run_dir in by_label.items():
            result = RunDir(Path(run_dir)).read_eval("pad")["result"]
            entry = result["raw" if label == "raw" else kind]
            out.setdefault(task, {})[label] = float(entry["d_a"])
    return out


def accuracy_vs_images(series: Mapping[str, Sequence[tuple[float, float]]], references: Mapping[str, float],
                       path: Path, *, title: str = "Target accuracy against training images",
                       figsize: tuple[float, float] | None = None, dpi: int = 100) -> Path:
    """The compute axis: accuracy (%) against training images seen (log scale), one line per row, and dashed
    horizontal reference lines (e.g. source only and the oracle).

    The legend sits beneath the axes, one entry per line, so long row names (a leaderboard row carries its
    hyper-parameters) never squeeze the plot; without ``figsize`` the figure is 8 inches wide and grows
    taller by one legend line per entry.

    Args:
        series: label → ``(images seen, accuracy %)`` points in order.
        references: label → accuracy (%) drawn across the whole axis.
    """
    drawn = [(label, points) for label, points in series.items() if points]
    if not drawn:
        raise ValueError("accuracy_vs_images needs at least one series with points")
    if figsize is None:
        figsize = (8.0, 4.0 + 0.18 * (len(drawn) + len(references)))  # one legend line per entry
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for i, (label, points) in enumerate(drawn):
        xs, ys = zip(*points)
        cycle = i // 10  # past ten rows the colours repeat: change the line and marker instead
        ax.plot(xs, ys, color=f"C{i % 10}", linestyle=("-", "--", "-.")[cycle % 3], marker="os^"[cycle % 3],
                markersize=3, label=label)
    for (label, value), style in zip(sorted(references.items()), ("--", ":", "-.")):
        ax.axhline(value, color="grey", linestyle=style, linewidth=1, label=f"{label} ({value:.1f})")
    ax.set_xscale("log")
    ax.set_xlabel("training images seen (source + target)")
    ax.set_ylabel("target test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title, fontsize=10)
    fig.legend(fontsize=8, loc="outside lower center")
    return _save(fig, path, dpi)
