"""Checks of a run's paths before any work starts, and the label-health warning at its end.

Split from ``judgerl.rundir`` (which re-exports them). Each check names the
config key and the fix in one line (a ``ConfigError``), so a user error never
ends in a traceback after collection or labelling has started.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from judgerl.config import RunConfig
from judgerl.configbase import ConfigError

# ── #12 Paths checked before any work starts ─────────────────────────────────────────


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_writable_dir(path: Path, key: str, fix: str) -> None:
    """``path`` is a folder we can write in, or can be created in a folder we can write in."""
    anc = _existing_ancestor(path)
    if not anc.is_dir():
        where = "is" if anc == path.absolute() else f"would be inside {anc}, which is"
        raise ConfigError(f"{key}: {path} {where} a file, not a folder; {fix}")
    try:
        fd, probe = tempfile.mkstemp(dir=anc, prefix=".judgerl-write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{key}: cannot write in {anc} ({e.strerror or e}); {fix}") from None


def _check_store_file(path: Path) -> None:
    if path.is_dir():
        raise ConfigError(
            f"labels.store: {path} is a folder; give a file path such as labels.sqlite (relative to the run folder)"
        )
    if not path.exists():
        _check_writable_dir(path.parent, "labels.store", "choose a writable place for the label store")
        return
    if path.stat().st_size == 0:
        return  # an empty file becomes a new store (state.json decides whether that is allowed)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            # quick_check reads every page; skipped for huge stores to keep the start fast.
            if path.stat().st_size <= 512 * 2**20:
                verdict = con.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise sqlite3.DatabaseError(str(verdict))
        finally:
            con.close()
    except sqlite3.Error as e:
        raise ConfigError(
            f"labels.store: {path} is not a readable SQLite label store ({e}); move it aside and restore a "
            "backup, or set labels.store to a new file (its labels would be bought again)"
        ) from None
    if not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"labels.store: {path} is not writable; fix its permissions or choose another file")


def check_paths(cfg: RunConfig) -> None:
    """Check every path the run will use, before any env step or judge call.

    ``runs_dir`` and the run folder must be (or be creatable as) writable folders;
    ``labels.store`` must not be a folder and, if it exists, must be a readable SQLite
    file; model files named in the config (``judge.gguf.model_path``, the packaged GGUF
    for ``judge.type: gguf``, ``judge.prompt`` given as a path, ``agent.init``) must exist.

    Raises:
        ConfigError: One line naming the key, the path and the fix.
    """
    fix = "set runs_dir to a writable folder, e.g. --set runs_dir=$HOME/judgerl-runs"
    _check_writable_dir(Path(cfg.runs_dir), "runs_dir", fix)
    _check_writable_dir(cfg.run_dir, "name", fix + ", or choose another run name")
    _check_store_file(cfg.store_path)
    judge = cfg.judge
    if judge.type == "gguf":
        if judge.gguf.model_path is not None:
            if not Path(judge.gguf.model_path).is_file():
                raise ConfigError(
                    f"judge.gguf.model_path: {judge.gguf.model_path} is not a file; give the path of a .gguf "
                    "model, or leave it unset for the packaged SmolLM2-135M"
                )
        else:
            from judgerl.judges.embedded import PackagedModelMissing, packaged_smollm2_path

            try:
                packaged_smollm2_path()
            except PackagedModelMissing as e:
                raise ConfigError(f"judge.gguf.model_path: {e}") from None
    prompt = judge.prompt
    if prompt is not None and (prompt.endswith(".txt") or "/" in prompt) and not Path(prompt).is_file():
        raise ConfigError(f"judge.prompt: {prompt} is not a file; give a .txt template or a packaged prompt name")
    init = getattr(cfg.agent, "init", None)
    if isinstance(init, str) and init and not Path(init).is_file():
        raise ConfigError(f"agent.init: {init} is not a file; give the path of a saved SB3 agent (.zip)")


# ── #13 A run that ends with few usable labels says so ───────────────────────────────


def label_health_warning(stats: Mapping[str, Any], planned: int | None = None, min_share: float = 0.8) -> str | None:
    """A warning when a run ends with clearly fewer usable labels than planned, or ``None``.

    Args:
        stats: The run's final summary, or ``LabelStore.stats(judge_id)``: ``labels/usable``,
            ``labels/transient``, ``labels/abstain``, ``labels/failed`` and (unless ``planned``
            is given) ``budget/labels_planned``; ``labels/unresolved`` (queries whose only
            answers are transient failures) is used instead of ``labels/transient`` when present.
        planned: The label budget (``labels.total``).
        min_share: Warn below this share of ``planned`` usable labels.

    Returns:
        One paragraph for stderr naming the counts and what to do, or ``None``.
    """
    total = planned if planned is not None else stats.get("budget/labels_planned")
    if not total:
        return None
    usable = int(stats.get("labels/usable", 0))
    if usable >= min_share * float(total):
        return None
    transient = int(stats.get("labels/unresolved", stats.get("labels/transient", 0)))
    abstain = int(stats.get("labels/abstain", 0))
    failed = int(stats.get("labels/failed", 0))
    head = f"warning: only {usable} of {int(total)} planned labels are usable"
    if transient > 0:
        return (
            f"{head}: {transient} quer(ies) only ever failed transiently (timeouts, rate limits, server errors), "
            "although each iteration asked the earlier ones again; they are left out of the reward model. Check "
            "the server (judge/http_* in metrics.jsonl) before the next run."
        )
    return (
        f"{head} ({abstain} abstained, {failed} failed for good); the reward model was fitted on few labels. "
        "Check the judge with `judgerl check-judge CONFIG`, or raise labels.total."
    )
