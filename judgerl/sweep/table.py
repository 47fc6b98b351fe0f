"""A sweep's one table: ``sweep.json``, ``sweep.md`` (mean ± std over seeds, every seed listed) and ``sweep.png``.

Standard deviations are over seeds with ``n − 1`` (the sample standard
deviation; 0 for one seed). Runs that did not finish are listed with their status
and left out of the means.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from judgerl.sweep.execute import KEY_METRICS

HEADLINE_ORDER = ("eval/fresh/normalized_score", "eval/normalized_score", "eval/fresh/return_mean", "eval/return_mean")
"""The plotted metric when ``--metric`` is not given: the first that every finished run has."""


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per grid point (in first-seen order): seeds, finished runs, and mean/std/values of each key metric.

    Args:
        records: Run records (``label``, ``seed``, ``status``, ``metrics``, ``wall_s``).

    Returns:
        ``[{"label", "point", "seeds", "finished", "metrics": {key: {"mean", "std", "n", "values"}}}]``;
        ``values`` maps each seed (as a string) to its value.
    """
    points: dict[str, dict[str, Any]] = {}
    for r in records:
        p = points.setdefault(r["label"], {"label": r["label"], "point": r["point"], "seeds": [], "finished": 0})
        p["seeds"].append(r["seed"])
    out = []
    for p in points.values():
        done = [r for r in records if r["label"] == p["label"] and r["metrics"] and r["status"] in ("done", "skipped")]
        p["finished"] = len(done)
        metrics: dict[str, Any] = {}
        for key in (*KEY_METRICS, "wall_s"):
            vals = {str(r["seed"]): (r["wall_s"] if key == "wall_s" else r["metrics"].get(key)) for r in done}
            vals = {s: float(v) for s, v in vals.items() if v is not None and math.isfinite(float(v))}
            if vals:
                mean, std = _mean_std(list(vals.values()))
                metrics[key] = {"mean": mean, "std": std, "n": len(vals), "values": vals}
        p["metrics"] = metrics
        out.append(p)
    return out


def headline(points: Sequence[Mapping[str, Any]], wanted: str | None) -> str | None:
    """The metric to plot: ``wanted``, else the first of :data:`HEADLINE_ORDER` every point has."""
    if wanted:
        return wanted
    for key in HEADLINE_ORDER:
        if points and all(key in p["metrics"] for p in points):
            return key
    return None


def _fmt(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 100 else f"{x:.1f}"


def markdown(summary: Mapping[str, Any]) -> str:
    """``sweep.md``: what ran, mean ± std per point, then every run."""
    points, runs = summary["points"], summary["runs"]
    keys = [k for k in (*KEY_METRICS, "wall_s") if any(k in p["metrics"] for p in points)]
    lines = [
        f"# Sweep `{summary['out']}`",
        "",
        f"config `{summary['config']}`; grid {json.dumps(summary['grid'])}; seeds {summary['seeds']}; "
        f"backend `{summary['backend']}`; {len(runs)} runs, "
        f"{sum(r['status'] in ('done', 'skipped') for r in runs)} finished; this invocation "
        f"{summary['wall_s']:.1f} s wall-clock. Mean ± sample std over seeds (n − 1).",
        "",
        "| point | seeds finished | " + " | ".join(f"`{k}`" for k in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for p in points:
        cells = []
        for k in keys:
            m = p["metrics"].get(k)
            cells.append(f"{_fmt(m['mean'])} ± {_fmt(m['std'])}" if m else "–")
        lines.append(f"| {p['label']} | {p['finished']}/{len(p['seeds'])} | " + " | ".join(cells) + " |")
    lines += ["", "## Every run", "", "| point | seed | status | " + " | ".join(f"`{k}`" for k in keys) + " |"]
    lines.append("|---|---|---|" + "---|" * len(keys))
    for r in runs:
        vals = [r["wall_s"] if k == "wall_s" else r["metrics"].get(k) for k in keys]
        cells = [_fmt(float(v)) if isinstance(v, int | float) else "–" for v in vals]
        status = r["status"] + (f": {r['error'][:80]}" if r.get("error") else "")
        lines.append(f"| {r['label']} | {r['seed']} | {status} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(points: Sequence[Mapping[str, Any]], metric: str, path: Path) -> bool:
    """``sweep.png``: ``metric`` per grid point, each seed a dot, the mean ± std as a bar.

    Returns:
        Whether a plot was written (no point has the metric: nothing to draw).
    """
    have = [p for p in points if metric in p["metrics"]]
    if not have:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(have) + 2), 3.6))
    for i, p in enumerate(have):
        m = p["metrics"][metric]
        vals = list(m["values"].values())
        xs = [i + 0.08 * (j - (len(vals) - 1) / 2) for j in range(len(vals))]  # spread the seeds a little
        ax.scatter(xs, vals, s=18, color="tab:blue", alpha=0.7, zorder=3, label="seed" if i == 0 else None)
        ax.errorbar(
            [i + 0.3],
            [m["mean"]],
            yerr=[m["std"]],
            fmt="o",
            color="black",
            capsize=4,
            label="mean ± std" if i == 0 else None,
        )
    ax.set_xticks(range(len(have)), [p["label"] for p in have], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_table(out: Path, summary: dict[str, Any], metric: str | None) -> dict[str, Any]:
    """Aggregate ``summary["runs"]`` and write sweep.json, sweep.md and (when drawable) sweep.png.

    Args:
        out: The sweep directory.
        summary: ``config``, ``grid``, ``seeds``, ``backend``, ``wall_s``, ``runs`` (records).
        metric: The plotted metric (``None``: see :func:`headline`).

    Returns:
        ``summary`` completed with ``points``, ``metric`` and ``plot`` (the PNG's path or ``""``).
    """
    summary["points"] = aggregate(summary["runs"])
    summary["metric"] = headline(summary["points"], metric)
    png = out / "sweep.png"
    summary["plot"] = str(png) if summary["metric"] and plot(summary["points"], summary["metric"], png) else ""
    tmp = out / "sweep.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))
    tmp.replace(out / "sweep.json")
    (out / "sweep.md").write_text(markdown(summary))
    return summary
