"""Defect 1 end to end: a server answering 401/403/404/3xx stops `judgerl check-judge` cleanly.

One clear line on stderr, exit 2, no label row stored for the queries (so no
failed row poisons the cache), and after the fix the rerun asks every probe.
The fake server's request log is the evidence.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from judgerl.testing.cli import cli_in_process
from judgerl.testing.fake_openai import FakeOpenAIServer, answered_prompts
from judgerl.testing.forked import run_forked

KEY_ENV = "JUDGERL_SMOKE_KEY"
PROBES = 6


def check_judge_args(tmp_path: Path, base_url: str) -> list[str]:
    """``check-judge --set ... --probes N`` against the fake server."""
    sets = [
        f"runs_dir={tmp_path}",
        "name=cfg-error",
        "task.id=cartpole/balance-v0",
        "query.kind=pairwise",
        "judge.type=openai",
        f"judge.client.base_url={base_url}",
        "judge.client.model=fake",
        f"judge.client.api_key_env={KEY_ENV}",
        "judge.client.concurrency=1",
    ]
    return ["check-judge", *(a for s in sets for a in ("--set", s)), "--probes", str(PROBES)]


def check_judge(tmp_path: Path, base_url: str, key: str | None) -> subprocess.CompletedProcess[str]:
    """``judgerl check-judge`` in a process of its own (``run_forked``), ``KEY_ENV`` set to ``key`` (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    if key is not None:
        env[KEY_ENV] = key
    return run_forked(*check_judge_args(tmp_path, base_url), env=env, timeout=180)


def rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        # One answer end to end in the default tier; the client-level tests cover every status there.
        ("unauthorized", f"environment variable {KEY_ENV}"),
        pytest.param("forbidden", "permission denied", marks=pytest.mark.slow),
        pytest.param("not_found", "judge.client.model ('fake'", marks=pytest.mark.slow),
        pytest.param("redirect", "set judge.client.base_url to the final URL", marks=pytest.mark.slow),
    ],
)
def test_config_error_stops_stores_nothing_and_the_fixed_rerun_asks_everything(
    tmp_path: Path, fault: str, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_key = "sk-smoke" if fault == "unauthorized" else None
    script = [] if fault == "unauthorized" else [fault]
    with FakeOpenAIServer(script=script, api_key=api_key) as srv:
        res = check_judge(tmp_path, srv.base_url, key=None if fault == "unauthorized" else "x")
        assert res.returncode == 2, res.stderr[-2000:]
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("judgerl: judge configuration error") and needle in err[0]
        assert "Traceback" not in res.stderr and srv.stats["requests"] == 1
        db = tmp_path / "cfg-error" / "labels.sqlite"
        assert rows(db, "labels") == 0 and rows(db, "spending") == 1  # nothing final; the request is counted

        # The fixed rerun in this process (the refusal above is the process a user sees): 3-4 s less.
        monkeypatch.setenv(KEY_ENV, "sk-smoke")
        fixed = cli_in_process(*check_judge_args(tmp_path, srv.base_url))
        assert fixed.returncode in (0, 1), fixed.stderr[-2000:]  # the preflight verdict on "A"-only answers
        asked = srv.stats["requests"] - 1
        assert rows(db, "labels") == 2 * PROBES  # every probe and its swap answered again, stored once
        with sqlite3.connect(db) as con:
            stored_requests = int(con.execute("SELECT SUM(requests) FROM labels").fetchone()[0])
        # Probes that render the same prompt are asked once (decision 0032): no prompt is answered twice.
        assert asked == stored_requests and max(answered_prompts(srv.records).values()) == 1
