"""A self-contained HTML report of a run: config, ground-truth results, judge and reward health, plots."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from judgerl.evaluation.logger import read_metrics

_CSS = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}pre{background:#f8f8f8;padding:1em;overflow:auto}
img{max-width:100%}.note{color:#666}
"""


def _table(rows: list[tuple[str, Any]], head: tuple[str, str] = ("metric", "value")) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in rows)
    return f"<table><tr><th>{head[0]}</th><th>{head[1]}</th></tr>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _plots(run_dir: Path, records: list[dict[str, Any]]) -> list[str]:
    """Draw learning curves into ``media/``; return their paths relative to the run dir."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    media = run_dir / "media"
    media.mkdir(exist_ok=True)
    out: list[str] = []
    series = {
        "returns.png": (
            "iteration",
            ["eval/return_mean", "agent/true_return", "agent/learned_return"],
            "true return (eval, training) and learned return",
        ),
        "reward.png": (
            "reward",
            ["reward/val_accuracy", "reward/val_true_corr"],
            "reward model: validation accuracy and correlation with the true return",
        ),
    }
    for name, (stage, keys, title) in series.items():
        rows = [r for r in records if r.get("stage") == stage]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.2))
        drawn = False
        for key in keys:
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=key)
                drawn = True
        if drawn:
            ax.set_xlabel("iteration")
            ax.set_title(title, fontsize=10)
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(media / name, dpi=90)
            out.append(f"media/{name}")
        plt.close(fig)
    return out


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` for a run directory and return its path.

    Args:
        run_dir: A run directory with ``config.yaml`` and ideally ``eval.json`` and ``metrics.jsonl``.

    Returns:
        Path of the written ``report.html``.
    """
    run_dir = Path(run_dir)
    cfg_text = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").exists() else "(no config.yaml)"
    ev: dict[str, Any] = json.loads((run_dir / "eval.json").read_text()) if (run_dir / "eval.json").exists() else {}
    records = read_metrics(run_dir)
    parts = [
        f"<!doctype html><meta charset=utf-8><title>judgerl run {html.escape(run_dir.name)}</title>",
        f"<style>{_CSS}</style><h1>judgerl run <code>{html.escape(run_dir.name)}</code></h1>",
    ]
    if not ev:
        parts.append(
            "<p class=note>No eval.json yet: the run has not finished. Run <code>judgerl run</code> "
            "again on the same config to resume it.</p>"
        )
    groups: list[tuple[str, str | tuple[str, ...]]] = [
        ("Ground truth (final agent, fresh agent, baselines)", "eval"),
        ("Judge and labels", ("judge", "labels")),
        ("Reward audit", "audit"),
        ("Budget", "budget"),
        ("Wall-clock per stage (s)", "time"),
    ]
    for title, prefix in groups:
        rows = [(k, v) for k, v in sorted(ev.items()) if k.startswith(prefix)]
        if rows:
            parts.append(f"<h2>{title}</h2>{_table(rows)}")
    from judgerl.evaluation.reward_audit import audit_html
    from judgerl.evaluation.text_replay import replay_html

    parts.append(audit_html(run_dir))
    parts.append(replay_html(run_dir))
    for img in _plots(run_dir, records):
        parts.append(f'<p><img src="{img}" alt="{img}"></p>')
    gifs = sorted((run_dir / "media").glob("*.gif")) if (run_dir / "media").exists() else []
    for gif in gifs:
        parts.append(f'<h3>{html.escape(gif.stem)}</h3><img src="media/{gif.name}" alt="{gif.name}">')
    extra = run_dir / "report_extra.html"
    if extra.exists():
        parts.append(extra.read_text())
    parts.append(f"<h2>Resolved configuration</h2><pre>{html.escape(cfg_text)}</pre>")
    path = run_dir / "report.html"
    path.write_text("\n".join(parts))
    return path
