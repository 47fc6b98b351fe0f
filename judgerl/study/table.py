"""The study's table: policies on ground truth, the judge against ground truth, calls and projected cost.

``project_cost`` prices a run's verdict calls as if they had gone to a vision
API model (default gpt-4o-mini with batch pricing): per verdict, the prompt
text plus one image per frame shown (every step's frame as in seed 003, or only
``keyframes`` of them), priced with OpenAI's image-token rules
(``judgerl.judges.client_media.image_tokens``), plus the completion.
"""

from __future__ import annotations

import html
from typing import Any

from judgerl.judges.client_media import image_tokens
from judgerl.study.config import StudyPriceConfig


def project_cost(calls: int, mean_length: float, price: StudyPriceConfig, keyframes: int) -> dict[str, float]:
    """Projected API cost of ``calls`` episode verdicts.

    Args:
        calls: Verdicts asked.
        mean_length: Mean steps per judged episode (frames per episode when all are sent).
        price: Prices and per-verdict token estimates.
        keyframes: Frames per episode when ``price.frames == "keyframes"``.

    Returns:
        ``study/cost_frames_per_verdict``, ``study/cost_tokens_in_per_verdict``,
        ``study/cost_usd_per_verdict``, ``study/cost_usd_projected`` (all ``calls``),
        ``study/cost_usd_per_10k``, ``study/cost_usd_seed_per_10k`` (seed 003's $20).
    """
    frames = mean_length if price.frames == "all" else min(float(keyframes), mean_length)
    per_image = image_tokens(price.image_width, price.image_height, price.image_detail)
    tokens_in = price.text_tokens + frames * per_image
    usd = (tokens_in * price.input_per_mtok + price.output_tokens * price.output_per_mtok) / 1e6
    return {
        "study/cost_frames_per_verdict": float(frames),
        "study/cost_tokens_in_per_verdict": float(tokens_in),
        "study/cost_usd_per_verdict": float(usd),
        "study/cost_usd_projected": float(usd * calls),
        "study/cost_usd_per_10k": float(usd * 10_000),
        "study/cost_usd_seed_per_10k": float(price.seed_usd_per_10k),
    }


_POLICY_ROWS = (
    ("cat harmed %", "eval/cat_harmed_rate", 100.0),
    ("fruit reached %", "eval/fruit_reached_rate", 100.0),
    ("mean episode length", "eval/length_mean", 1.0),
    ("mean task return", "eval/return_mean", 1.0),
)

_JUDGE_ROWS = (
    ("judge", "study/judge_type", None),
    ("verdicts asked (judge calls)", "study/judge_calls", 1.0),
    ("  of them on held-out test episodes", "study/test_episodes", 1.0),
    ("usable verdicts", "study/verdicts_ok", 1.0),
    ("failed / abstained (excluded)", "study/verdicts_unusable", 1.0),
    ("judge agreement with ground truth %", "study/judge_agreement", 100.0),
    ("judge AUC vs ground truth (raw score)", "study/judge_auc", 1.0),
    ("false 'aligned' on harmed-cat episodes, per 10k", "study/judge_false_aligned_per_10k", 1.0),
    ("false 'not aligned' on safe episodes, per 10k", "study/judge_false_not_aligned_per_10k", 1.0),
    ("classifier accuracy vs verdicts % (held out)", "study/classifier_test_acc_verdicts", 100.0),
    ("classifier accuracy vs ground truth % (held out)", "study/classifier_test_acc_truth", 100.0),
    ("money spent, USD", "judge/cost_usd", 1.0),
    ("projected API cost of these calls, USD", "study/cost_usd_projected", 1.0),
    ("projected API cost per 10k verdicts, USD", "study/cost_usd_per_10k", 1.0),
    ("seed 003 paid per 10k verdicts, USD", "study/cost_usd_seed_per_10k", 1.0),
)


def _fmt(v: Any, scale: float | None) -> str:
    if v is None:
        return "—"
    if isinstance(v, str) or scale is None:
        return str(v)
    x = float(v) * scale
    if x != x:  # NaN
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}" if abs(x) < 1 else f"{x:.1f}"


def table_rows(result: dict[str, Any]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Rows of the two tables from a ``study.json`` dict.

    Returns:
        ``(policy rows (name, naive, feedback), judge rows (name, value))``.
    """
    naive, feedback = result.get("naive", {}), result.get("feedback", {})
    policy = [(name, _fmt(naive.get(k), s), _fmt(feedback.get(k), s)) for name, k, s in _POLICY_ROWS]
    judge = [(name, _fmt(result.get("judge", {}).get(k), s)) for name, k, s in _JUDGE_ROWS]
    return policy, judge


def format_table(result: dict[str, Any]) -> str:
    """Both tables as plain text (what the CLI prints)."""
    policy, judge = table_rows(result)
    w = max(len(r[0]) for r in policy + [(n, v, "") for n, v in judge]) + 2
    lines = [f"{'policy (' + str(result.get('eval_episodes', '?')) + ' episodes)':{w}s}{'naive':>12s}{'feedback':>12s}"]
    lines += [f"{n:{w}s}{a:>12s}{b:>12s}" for n, a, b in policy]
    lines.append("")
    lines += [f"{n:{w}s}{v:>12s}" for n, v in judge]
    return "\n".join(lines)


def table_html(result: dict[str, Any]) -> str:
    """Both tables as an HTML fragment (``report_extra.html``)."""
    policy, judge = table_rows(result)

    def row(cells: tuple[str, ...], tag: str = "td") -> str:
        return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"

    head = row((f"policy ({result.get('eval_episodes', '?')} episodes)", "naive", "feedback"), "th")
    parts = [
        "<h2>Study: homegrid values (seed 003)</h2>",
        "<table>" + head + "".join(row(r) for r in policy) + "</table>",
        "<h3>Judge, classifier and cost</h3>",
        "<table>" + row(("", "value"), "th") + "".join(row(r) for r in judge) + "</table>",
    ]
    return "\n".join(parts)
