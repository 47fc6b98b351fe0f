"""The CLI against the reliability issue (issue 12): lock, lost store, changed config, user errors, SIGTERM.

The runs that must be other processes (the lock's owner, the one sent SIGTERM) are subprocesses; commands
that only check what ``judgerl`` says and writes run ``judgerl.cli.main`` in this process (``cli_in_process``:
no 3-4 s of imports each). tests/smoke/test_cli_run.py keeps the user errors of a real subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from judgerl.config import dump_config, load_config
from judgerl.testing.cli import TINY_RUN, cli_in_process, label_rows, sets
from judgerl.testing.forked import ForkedCommand

TINY = TINY_RUN
SLOW_JUDGE = ["judge.type=scripted", "judge.delay_s=0.2", "eval.fresh_agent=false"]


def start(*args: str) -> ForkedCommand:
    return ForkedCommand(list(args))


def wait_for(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def one_clear_line(res: subprocess.CompletedProcess[str]) -> None:
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("judgerl: ")


def started_run(tmp_path: Path, items: list[str], state: dict) -> Path:
    """A run directory as an earlier start left it: config.yaml and state.json."""
    cfg = load_config(None, items)
    cfg.run_dir.mkdir(parents=True)
    (cfg.run_dir / "config.yaml").write_text(dump_config(cfg))
    (cfg.run_dir / "state.json").write_text(json.dumps(state))
    return cfg.run_dir


# ── 3: two runs on one name ─────────────────────────────────────────────────────────


def test_second_run_on_the_same_name_is_refused_and_nothing_is_paid_twice(tmp_path: Path) -> None:
    args = ["run", *sets([*TINY, *SLOW_JUDGE, f"runs_dir={tmp_path}", "name=shared"])]
    db = tmp_path / "shared" / "labels.sqlite"
    first = start(*args)
    try:
        assert wait_for(lambda: len(label_rows(db)) >= 1, 120), "the first run must be labelling"
        second = cli_in_process(*args)
        one_clear_line(second)
        assert f"PID {first.pid}" in second.stderr and "in use" in second.stderr
        _, err = first.communicate(timeout=240)
        assert first.returncode == 0, err[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
    keys = [k for k, _ in label_rows(db)]
    assert len(keys) == len(set(keys)) == 12, "every query asked exactly once, the budget exact"


# ── 4: a lost label store ───────────────────────────────────────────────────────────


def test_lost_label_store_is_refused(tmp_path: Path) -> None:
    items = [*TINY, f"runs_dir={tmp_path}", "name=lost"]
    run_dir = started_run(tmp_path, items, {"iteration": 1, "stage": "start", "labels_bought": 4})
    res = cli_in_process("run", *sets(items))
    one_clear_line(res)
    assert "labels.store" in res.stderr and "missing" in res.stderr and "4 label" in res.stderr
    assert not (run_dir / "labels.sqlite").exists(), "no empty store may replace the lost one"


# ── 5: a changed config on resume ───────────────────────────────────────────────────


def test_changed_task_is_refused_and_config_yaml_stays_readable(tmp_path: Path) -> None:
    old = [*TINY, "task.id=pendulum/swingup-v0", f"runs_dir={tmp_path}", "name=changed"]
    run_dir = started_run(tmp_path, old, {"iteration": 0, "stage": "collected"})
    before = (run_dir / "config.yaml").read_text()
    res = cli_in_process("run", *sets([*TINY, f"runs_dir={tmp_path}", "name=changed"]))
    one_clear_line(res)
    assert "task.id: 'pendulum/swingup-v0' → 'cartpole/balance-v0'" in res.stderr
    assert (run_dir / "config.yaml").read_text() == before
    assert load_config(run_dir / "config.yaml").task.id == "pendulum/swingup-v0"


def test_force_config_records_the_change(tmp_path: Path) -> None:
    old = [*TINY, "reward.hidden_sizes=[64, 64]", f"runs_dir={tmp_path}", "name=forced"]
    run_dir = started_run(tmp_path, old, {"iteration": 2, "stage": "start", "done": True})
    with sqlite3.connect(run_dir / "labels.sqlite") as con:  # the finished run's store (rows are what counts)
        con.execute("CREATE TABLE labels (id INTEGER PRIMARY KEY)")
        con.execute("INSERT INTO labels DEFAULT VALUES")
    new = sets([*TINY, "reward.hidden_sizes=[32]", f"runs_dir={tmp_path}", "name=forced"])
    refused = cli_in_process("run", *new)
    one_clear_line(refused)
    assert "reward.hidden_sizes" in refused.stderr
    res = cli_in_process("run", *new, "--force-config")
    assert res.returncode == 0, res.stderr[-2000:]
    change = json.loads((run_dir / "config_changes.jsonl").read_text())
    assert change["changes"] == {"reward.hidden_sizes": [[64, 64], [32]]}


# ── 12: user errors, one line, exit 2, before any work ──────────────────────────────


@pytest.mark.parametrize("problem", ["binary_config", "runs_dir_is_file", "store_is_dir", "store_corrupt", "gguf"])
def test_user_errors_are_one_line_before_any_work(tmp_path: Path, problem: str) -> None:
    runs = tmp_path / "runs"
    items = [*TINY, f"runs_dir={runs}", "name=u"]
    config: list[str] = []
    if problem == "binary_config":
        (tmp_path / "c.yaml").write_bytes(os.urandom(4096) + b"\xff\xfe")
        config = [str(tmp_path / "c.yaml")]
    elif problem == "runs_dir_is_file":
        runs.write_text("a file")
    elif problem == "store_is_dir":
        (tmp_path / "store").mkdir()
        items.append(f"labels.store={tmp_path / 'store'}")
    elif problem == "store_corrupt":
        (tmp_path / "labels.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
        items.append(f"labels.store={tmp_path / 'labels.sqlite'}")
    elif problem == "gguf":
        items += ["judge.type=gguf", "query.kind=pointwise", f"judge.gguf.model_path={tmp_path / 'missing.gguf'}"]
    res = cli_in_process("run", *config, *sets(items))
    one_clear_line(res)
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    if problem != "runs_dir_is_file":
        assert not runs.exists() or not any(runs.rglob("*.json")), "no work (preflight, state) may start"


# ── 13: smaller ones ────────────────────────────────────────────────────────────────


def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "term" / "labels.sqlite"
    proc = start("run", *sets([*TINY, *SLOW_JUDGE, f"runs_dir={tmp_path}", "name=term"]))
    try:
        assert wait_for(lambda: len(label_rows(db)) >= 2, 120)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert "interrupted; every label bought so far is stored" in err and "Traceback" not in err
    assert len(label_rows(db)) >= 2


def test_empty_config_says_it_runs_on_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here yet\n")
    res = cli_in_process("run", str(empty), *sets([f"runs_dir={tmp_path}", "labels.total=-3"]))
    assert "empty.yaml is empty; running on the built-in defaults" in res.stderr


def test_set_takes_several_pairs_and_a_config_after_them(tmp_path: Path) -> None:
    res = cli_in_process("run", "--set", f"runs_dir={tmp_path}", "name=multi", "labels.total=-3")
    one_clear_line(res)
    assert "labels.total" in res.stderr and "got -3" in res.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text("labels:\n  total: -4\n")
    after = cli_in_process("run", "--set", f"runs_dir={tmp_path}", "seed=1", str(cfg))
    one_clear_line(after)
    assert "c.yaml" in after.stderr and "got -4" in after.stderr


def test_run_names_outside_runs_dir_are_refused(tmp_path: Path) -> None:
    res = cli_in_process("run", *sets([f"runs_dir={tmp_path / 'runs'}", "name=../../escape"]))
    one_clear_line(res)
    assert "name:" in res.stderr
    assert not (tmp_path.parent / "escape").exists()


def test_help_config_lists_choices() -> None:
    res = cli_in_process("run", "--help-config")
    assert res.returncode == 0
    assert "(one of: constant, hyperbolic;" in res.stdout and "Literal" not in res.stdout


def test_evaluate_falls_back_to_the_previous_agent(tmp_path: Path) -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from judgerl.agents.checkpoint import CheckpointInfo, save_agent_atomic

    run_dir = started_run(tmp_path, [*TINY, f"runs_dir={tmp_path}", "name=ev"], {"iteration": 2, "done": True})
    agent = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1), n_steps=32, batch_size=32, seed=0)
    for it in range(2):
        save_agent_atomic(agent, run_dir / "agent.zip", CheckpointInfo(iteration=it, stage="trained"))
    (run_dir / "agent.zip").write_bytes(b"PK\x03\x04 torn by a writer from before atomic saves")
    res = cli_in_process("evaluate", str(run_dir), "--episodes", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "eval/return_mean" in json.loads(res.stdout) and "agent.zip.prev" in res.stderr
