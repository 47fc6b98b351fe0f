"""What the report shows, read from a run directory: config, task, judge, preflight, real queries, labels, media.

Nothing here computes a result: values come from ``config.yaml``,
``eval.json``, ``metrics.jsonl``, ``preflight.json``, ``landscape.json``,
``study.json``, ``media/`` and the label store (opened read-only, so
rendering a report never changes a run). Counting the stored label rows by
status is the only arithmetic.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from judgerl.labels.codec import decode_segment
from judgerl.types import Segment

SHOWN_QUERIES = 6
"""Real queries shown in the report."""


@dataclass(frozen=True)
class ShownSegment:
    """One segment of a shown query: what the judge saw, and its ground truth.

    Attributes:
        captions: ``(caption, steps)`` runs of equal consecutive captions.
        thumbs: Up to 4 stored frames, evenly spaced, each ``(H, W, 3)`` uint8.
        true_return: Sum of the env's true rewards over the segment.
        length: Steps.
    """

    captions: list[tuple[str, int]]
    thumbs: list[np.ndarray]
    true_return: float
    length: int


@dataclass(frozen=True)
class ShownQuery:
    """One real query of the run with the judge's answer (label row) and the oracle's where known."""

    iteration: int
    kind: str
    segments: list[ShownSegment]
    status: str
    preference: float | None
    value: float | None
    raw_response: str
    model: str
    latency_s: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    error: str
    oracle: str


@dataclass(frozen=True)
class RunData:
    """Everything the report renders, gathered from one run directory."""

    run_dir: Path
    config: dict[str, Any]
    config_text: str
    ev: dict[str, Any]
    records: list[dict[str, Any]]
    preflight: dict[str, Any]
    task: dict[str, Any]
    judge: list[tuple[str, str]]
    queries: list[ShownQuery] = field(default_factory=list)
    label_counts: dict[str, Any] = field(default_factory=dict)
    landscape: dict[str, Any] | None = None
    gifs: list[tuple[str, Path]] = field(default_factory=list)
    study: dict[str, Any] | None = None


def _json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _task_info(task_id: str) -> dict[str, Any]:
    """The task's words from the registry (``{"id": task_id}`` alone when it is unknown here)."""
    from judgerl.tasks import get_task

    try:
        t = get_task(task_id)
    except (KeyError, ValueError, ImportError):
        return {"id": task_id}
    return {
        "id": t.id,
        "instruction": t.instruction,
        "env_id": t.env_id,
        "question": t.question,
        "goal_text": t.goal_text,
        "baseline_text": t.baseline_text,
        "modalities": ", ".join(t.modalities),
        "spec": t,
    }


def judge_words(cfg: dict[str, Any], prompt_shas: list[str], models: list[str]) -> list[tuple[str, str]]:
    """The judge in words, from the resolved config and the label rows' models and prompt hashes."""
    j = dict(cfg.get("judge", {}))
    kind = str(j.get("type", "?"))
    model = {
        "openai": j.get("client", {}).get("model"),
        "gguf": j.get("gguf", {}).get("model_path") or "packaged SmolLM2-135M",
        "embedding": j.get("zero_shot", {}).get("model"),
        "clip": j.get("zero_shot", {}).get("model"),
    }.get(kind)
    if kind == "oracle":
        o = j.get("oracle", {})
        model = "ground truth" + "".join(f", {k} {v}" for k, v in o.items() if v)
    rows = [("type", kind), ("model", str(model or ", ".join(models) or "—"))]
    if kind == "openai":
        rows.append(("server", str(j.get("client", {}).get("base_url", ""))))
    rows.append(
        ("asked", f"{cfg.get('query', {}).get('kind', '?')} queries (judge.form: {j.get('form') or 'as asked'})")
    )
    rows.append(("both orders", "yes" if j.get("both_orders") else "no"))
    rows.append(("prompt", str(j.get("prompt") or "packaged default")))
    if j.get("question"):
        rows.append(("question asked", f"{j['question']} (judge.question, instead of the task's)"))
    if j.get("contrast_question"):
        rows.append(("contrast question", f"{j['contrast_question']} (its margin is subtracted)"))
    if prompt_shas:
        rows.append(("prompt version (sha256)", ", ".join(s[:12] for s in prompt_shas)))
    zs = j.get("zero_shot", {})
    if kind in ("embedding", "clip"):
        rows.append(("goal − baseline projection α", str(zs.get("alpha"))))
    rows.append(("reward model", str(cfg.get("reward", {}).get("model", "?"))))
    return rows


def _runs(captions: tuple[str, ...]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for c in captions:
        if out and out[-1][0] == c:
            out[-1] = (c, out[-1][1] + 1)
        else:
            out.append((c, 1))
    return out


def _shown_segment(s: Segment) -> ShownSegment:
    """What the judge saw of a segment's real steps (absorbing padding after an episode's end left out)."""
    real = np.asarray(s.dones) == 0
    frames = [] if s.frames is None else list(np.asarray(s.frames)[real])
    thumbs = [frames[i] for i in np.unique(np.linspace(0, len(frames) - 1, 4).astype(int))] if frames else []
    captions = tuple(c for c, r in zip(s.captions, real, strict=True) if r) if len(s.captions) == len(real) else ()
    return ShownSegment(_runs(captions or s.captions), thumbs, float(s.env_rewards[real].sum()), int(real.sum()))


def _oracle_words(kind: str, segs: list[Segment], task: Any) -> str:
    """The oracle's answer from the stored ground truth (true returns; the task's verdict for one-item queries)."""
    if kind == "caption_pairs":
        return "no ground truth for messages (the preflight's reference is a proxy)"
    if len(segs) == 2:
        a, b = segs[0].true_return, segs[1].true_return
        pick = "A" if a > b else ("B" if b > a else "tie")
        return f"prefers {pick} (true return A {a:.4g}, B {b:.4g})"
    verdict = getattr(task, "oracle_verdict", None)
    words = f"true return {segs[0].true_return:.4g}"
    if verdict is not None:
        words = f"{'yes' if verdict(segs[0]) else 'no'} ({words})"
    return words


def _read_store(
    db: Path, run_id: str | None, task: Any
) -> tuple[list[ShownQuery], dict[str, Any], list[str], list[str]]:
    """Shown queries, label counts, prompt shas and models from the label store, opened read-only."""
    # Read-only. Without a -wal file every label is in the main file (a closed store): ``immutable`` then
    # reads it without creating -wal/-shm files; with one (a live or killed run) the WAL must be read too.
    wal = db.with_name(db.name + "-wal").exists()
    con = sqlite3.connect(f"file:{db}?mode=ro{'' if wal else '&immutable=1'}", uri=True)
    con.row_factory = sqlite3.Row
    try:
        # The effective label of each of the run's queries: the latest non-transient row (what the fit used).
        rows = con.execute(
            """SELECT l.*, rq.iteration AS it, q.kind AS q_kind, q.segment_keys AS q_segs
               FROM labels l JOIN run_queries rq ON rq.query_key = l.query_key
               JOIN queries q ON q.key = l.query_key
               WHERE rq.run_id = ? AND rq.iteration >= 0 AND l.transient = 0
                 AND l.id = (SELECT max(id) FROM labels m WHERE m.judge_id = l.judge_id
                             AND m.query_key = l.query_key AND m.transient = 0)
               ORDER BY rq.iteration, l.id""",
            (run_id,),
        ).fetchall()
        per_it: dict[int, Counter[str]] = {}
        for r in rows:
            c = per_it.setdefault(int(r["it"]), Counter())
            c[r["status"]] += 1
            if r["status"] == "ok" and r["preference"] is not None and r["preference"] == 0.5:
                c["tie"] += 1
        counts: dict[str, Any] = {
            "per_iteration": sorted(per_it.items()),
            "total": sum((c for c in per_it.values()), Counter()),
            "preflight": con.execute(
                "SELECT count(*) FROM run_queries WHERE run_id = ? AND iteration < 0", (run_id,)
            ).fetchone()[0],
        }
        picks = list(np.unique(np.linspace(0, len(rows) - 1, min(SHOWN_QUERIES, len(rows))).astype(int)))
        bad = [i for i, r in enumerate(rows) if r["status"] != "ok"]
        if bad and not any(rows[i]["status"] != "ok" for i in picks):
            picks[-1] = bad[0]  # a failed or abstained answer, when there is one, is worth seeing
        shown = []
        for i in sorted(set(picks)):
            r = rows[i]
            segs = []
            for key in json.loads(r["q_segs"]):
                blob = con.execute("SELECT blob FROM segments WHERE key = ?", (key,)).fetchone()
                segs.append(decode_segment(blob[0]))
            shown.append(
                ShownQuery(
                    int(r["it"]),
                    r["q_kind"],
                    [_shown_segment(s) for s in segs],
                    r["status"],
                    r["preference"],
                    r["value"],
                    r["raw_response"],
                    r["model"],
                    float(r["latency_s"]),
                    int(r["tokens_in"]),
                    int(r["tokens_out"]),
                    float(r["cost_usd"]),
                    r["error"],
                    _oracle_words(r["q_kind"], segs, task),
                )  # fmt: skip
            )
        shas = [s[0] for s in con.execute("SELECT DISTINCT prompt_sha FROM labels WHERE prompt_sha != ''")]
        models = [m[0] for m in con.execute("SELECT DISTINCT model FROM labels WHERE model != ''")]
    finally:
        con.close()
    return shown, counts, shas, models


def gather(run_dir: Path) -> RunData:
    """Read everything the report shows from ``run_dir`` (missing files give empty sections)."""
    from judgerl.evaluation.agent_gif import END_GIF, START_GIF
    from judgerl.evaluation.landscape import LANDSCAPE_FILE
    from judgerl.evaluation.logger import read_metrics

    cfg_path = run_dir / "config.yaml"
    config_text = cfg_path.read_text() if cfg_path.exists() else ""
    config: dict[str, Any] = dict(yaml.safe_load(config_text) or {}) if config_text else {}
    task = _task_info(str(config.get("task", {}).get("id", "?")))
    state = _json(run_dir / "state.json")
    run_id = state.get("extra", {}).get("run_id")
    store = Path(str(config.get("labels", {}).get("store") or "labels.sqlite"))
    store = store if store.is_absolute() else run_dir / store  # as RunConfig.store_path resolves it
    queries: list[ShownQuery] = []
    counts: dict[str, Any] = {}
    shas: list[str] = []
    models: list[str] = []
    if store.exists() and run_id:
        try:
            queries, counts, shas, models = _read_store(store, run_id, task.get("spec"))
        except sqlite3.Error as e:
            counts = {"error": f"label store unreadable: {e}"}
    gifs = [(title, run_dir / rel) for title, rel in (("start", START_GIF), ("end", END_GIF))]
    gifs += [
        (p.stem, p)
        for p in sorted((run_dir / "media").glob("*.gif"))
        if p.name not in ("agent_start.gif", "agent_end.gif")
    ]
    study = _json(run_dir / "study.json") or None
    return RunData(
        run_dir=run_dir,
        config=config,
        config_text=config_text,
        ev=_json(run_dir / "eval.json"),
        records=read_metrics(run_dir),
        preflight=_json(run_dir / "preflight.json"),
        task=task,
        judge=judge_words(config, shas, models) if config else [],
        queries=queries,
        label_counts=counts,
        landscape=_json(run_dir / LANDSCAPE_FILE) or None,
        gifs=[(t, p) for t, p in gifs if p.exists()],
        study=study,
    )
