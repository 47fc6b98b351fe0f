"""``report.html``: one self-contained page per run that a researcher reads top to bottom.

The page is rendered with a Jinja2 template (``templates/report.html.j2``)
from what the run stored -- ``report_data.gather`` reads it, ``report_figures``
draws it with matplotlib -- and computes nothing new. Every image (figures,
frame thumbnails, GIFs) is inlined as a ``data:`` URI and the styles are in
the page, so the file can be mailed or archived on its own. Sections, top to
bottom, and where each comes from: docs/report.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from judgerl.evaluation import report_figures as figs
from judgerl.evaluation.report_data import RunData, gather
from judgerl.runstate import write_atomic

_TEMPLATES = Path(__file__).with_name("templates")


def fmt(v: Any) -> str:
    """A number with 4 significant digits (integers whole), ``—`` for a missing value."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e9):
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _last(records: list[dict[str, Any]], stage: str, prefix: str) -> dict[str, Any]:
    """The keys starting with ``prefix`` of the last record of ``stage`` that has any."""
    for r in reversed(records):
        if r.get("stage") == stage and any(k.startswith(prefix) for k in r):
            return {k: v for k, v in r.items() if k.startswith(prefix)}
    return {}


_MEANINGS = {
    "invalid_rate": "share of probe answers that failed or abstained",
    "agreement": "agreement with the oracle, ties half; for scores: share of probe pairs ordered as their true returns",
    "auc": "P(score of a probe the oracle calls yes > score of a no)",
    "swap_consistency": "same pick with the two segments shown the other way round",
    "oracle_comparison": "whether any probe pair differed in true return",
}
"""What each graded preflight check measures (judgerl/judges/check.py), shown under its name."""


def _preflight(pf: dict[str, Any]) -> dict[str, Any]:
    """Graded checks ``(name, value, verdict, rule)`` and the other measurements of ``preflight.json``."""
    checks = [
        (name, pf.get(f"preflight/{name}"), verdict, pf.get(f"preflight/rule/{name}", ""))
        for key, verdict in pf.items()
        if key.startswith("preflight/verdict/")
        for name in [key.rsplit("/", 1)[1]]
    ]
    graded = {c[0] for c in checks}
    skip = {"judge_id", "kind", "overall"} | graded
    measures = [
        (k.split("/", 1)[1], v)
        for k, v in pf.items()
        if k.count("/") == 1 and k.split("/", 1)[1] not in skip and v is not None
    ]
    return {"checks": checks, "measures": measures, "overall": pf.get("preflight/overall"), "raw": pf}


def _value_scale(cfg: dict[str, Any]) -> str:
    """What the judge's values mean (``probability``, ``margin``, ``similarity``), from the resolved config."""
    from judgerl.judges.config import JudgeConfig
    from judgerl.judges.factory import value_scale

    try:
        return value_scale(JudgeConfig.model_validate(cfg.get("judge", {})), cfg.get("query", {}).get("kind", ""))
    except ValueError:
        return "probability"


def _judge_quality(records: list[dict[str, Any]], data_cfg: dict[str, Any]) -> dict[str, Any]:
    """The last judge record's confusion matrix, agreement, position bias and calibration figure."""
    q = _last(records, "judge", "judge/")
    sides = [s for s in ("a", "b", "tie") if any(k.startswith(f"judge/confusion_{s}_") for k in q)]
    if not sides:
        sides = [s for s in ("yes", "no") if f"judge/confusion_{s}_yes" in q]
    matrix = [(j, [q.get(f"judge/confusion_{j}_{o}", 0.0) for o in sides]) for j in sides]
    bins = sorted(
        (q[f"judge/calib_{i}_pred"], q[f"judge/calib_{i}_oracle"], q[f"judge/calib_{i}_n"])
        for i in range(10)
        if f"judge/calib_{i}_pred" in q
    )
    probability = sides != ["yes", "no"] or _value_scale(data_cfg) == "probability"
    keys = ("judge/oracle_agreement", "judge/oracle_auc", "judge/oracle_n", "judge/first_shown_rate")
    rows = [(k, q[k]) for k in (*keys, "judge/swap_disagreement_rate", "judge/swap_pairs") if k in q]
    calibration = figs.calibration_figure(bins, probability)
    return {"sides": sides, "matrix": matrix, "rows": rows, "calibration": calibration, "pairwise": "a" in sides}


def _glance(ev: dict[str, Any], pf: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Headline numbers: ``(label, value, note)``."""
    out = []
    if "eval/return_mean" in ev:
        out.append(("final agent, true return", fmt(ev["eval/return_mean"]), f"± {fmt(ev.get('eval/return_std'))}"))
        out.append(
            (
                "success rate",
                f"{100 * float(ev.get('eval/success_rate') or 0):.0f} %",
                f"{fmt(ev.get('eval/episodes'))} episodes",
            )
        )
    for key, label in (
        ("eval/normalized_score", "normalised score"),
        ("eval/fresh/normalized_score", "fresh agent, normalised"),
    ):
        if ev.get(key) is not None:
            out.append((label, fmt(ev[key]), "0 = random, 1 = true-reward agent"))
    if "eval/fresh/return_mean" in ev:
        out.append(
            (
                "fresh agent, true return",
                fmt(ev["eval/fresh/return_mean"]),
                f"success {fmt(ev.get('eval/fresh/success_rate'))}",
            )
        )
    if "eval/random/return_mean" in ev:
        out.append(("random policy", fmt(ev["eval/random/return_mean"]), "true return"))
    if "labels/used_for_reward" in ev:
        out.append(("labels used", fmt(ev["labels/used_for_reward"]), f"cost ${fmt(ev.get('judge/cost_usd'))}"))
    if pf.get("preflight/overall"):
        out.append(("judge preflight", str(pf["preflight/overall"]), f"{fmt(pf.get('preflight/n_probes'))} probes"))
    return out


def _algo(data: RunData) -> str:
    """The agent's algorithm: ``agent.algo``, or the task's default when it is ``auto``."""
    algo = data.config.get("agent", {}).get("algo")
    spec = data.task.get("spec")
    if algo in (None, "auto") and spec is not None:
        return f"{spec.default_algo} (task default)"
    return str(algo or "—")


def context(data: RunData) -> dict[str, Any]:
    """Everything the template needs, figures drawn."""
    from judgerl.evaluation.reward_audit import audit_html
    from judgerl.evaluation.text_replay import replay_html

    ev, records = data.ev, data.records
    epic = sorted({k: v for r in [*records, ev] for k, v in r.items() if k.startswith("eval/epic")}.items())
    groups: list[tuple[str, str | tuple[str, ...]]] = [
        ("Ground truth: final agent, fresh agent, baselines", "eval"),
        ("Labels and judge, as stored", ("labels", "judge")),
        ("Budget", "budget"),
        ("Wall-clock per stage (s)", "time"),
    ]
    study_html = ""
    if data.study:
        from judgerl.study.table import table_html

        study_html = table_html(data.study)
    extra = data.run_dir / "report_extra.html"
    return {
        "name": data.run_dir.name,
        "d": data,
        "finished": bool(ev),
        "glance": _glance(ev, data.preflight),
        "preflight": _preflight(data.preflight),
        "meanings": _MEANINGS,
        "algo": _algo(data),
        "quality": _judge_quality(records, data.config),
        "thumb": figs.thumb_uri,
        "reward_fig": figs.reward_curves(records),
        "reward_last": _last(records, "reward", "reward/"),
        "returns_fig": figs.return_curves(records, ev),
        "landscape_fig": figs.landscape_figure(data.landscape) if data.landscape else None,
        "epic": epic,
        "gifs": [(title, figs.file_uri(path), path.name, path.stat().st_size) for title, path in data.gifs],
        "study_html": Markup(study_html),
        "audit_html": Markup(audit_html(data.run_dir)),
        "replay_html": Markup(replay_html(data.run_dir)),
        "extra_html": Markup(extra.read_text()) if extra.exists() and not data.study else "",
        "tables": [(t, [(k, v) for k, v in sorted(ev.items()) if k.startswith(p)]) for t, p in groups],
    }


def render(data: RunData) -> str:
    """The report's HTML for gathered run data."""
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["fmt"] = fmt
    return env.get_template("report.html.j2").render(**context(data))


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` for a run directory (atomically) and return its path.

    Args:
        run_dir: A run directory; every section whose data is missing is left out
            (an unfinished run gets a note saying how to resume it).

    Returns:
        Path of the written ``report.html``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "report.html"
    write_atomic(path, render(gather(run_dir)))
    return path
