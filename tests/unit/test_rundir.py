"""Run-directory guards (issue 12): the lock (3), the store check (4), path checks (12), label health (13)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from judgerl.config import RunConfig
from judgerl.configbase import ConfigError
from judgerl.labels.store import LabelStore
from judgerl.rundir import (
    RunLock,
    RunLocked,
    StoreMismatch,
    check_paths,
    check_store_matches_state,
    count_label_rows,
    label_health_warning,
    store_path,
)
from judgerl.runstate import RunState

HOLDER = textwrap.dedent(
    """
    import sys, time
    from judgerl.rundir import RunLock
    with RunLock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def hold_lock(run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


# ── 3: one writer per run directory ─────────────────────────────────────────────────


def test_second_process_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "shared"
    holder = hold_lock(run_dir)
    try:
        with pytest.raises(RunLocked) as info, RunLock(run_dir):
            pass
        assert info.value.pid == holder.pid
        assert f"PID {holder.pid}" in str(info.value) and "another run name" in str(info.value)
        assert isinstance(info.value, ConfigError)  # the CLI prints it in one line, exit 2
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the lock with the killed process: no stale lock.
    with RunLock(run_dir):
        assert (run_dir / ".lock").read_text().split("\n")[0] == str(os.getpid())


def test_lock_is_reentrant_in_one_process_and_cleans_stale_temps(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    debris = run_dir / ".agent.zip.tmp-999-deadbeef.zip"
    debris.write_bytes(b"half")
    with RunLock(run_dir), RunLock(run_dir):  # the CLI and the loop both take it
        assert not debris.exists()
    assert (run_dir / ".lock").read_text() == ""  # released: no PID left behind
    with RunLock(run_dir):
        pass


# ── 4: a lost label store is refused ────────────────────────────────────────────────


def stored_labels(path: Path, n: int) -> None:
    """A store with ``n`` label rows (only the ``labels`` table matters to the check)."""
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE labels (id INTEGER PRIMARY KEY, query_key TEXT)")
        con.executemany("INSERT INTO labels (query_key) VALUES (?)", [(f"q{i}",) for i in range(n)])


def test_state_with_bought_labels_and_a_missing_or_empty_store_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    state = RunState(iteration=1, labels_bought=12)
    with pytest.raises(StoreMismatch, match="is missing.*12 label"):
        check_store_matches_state(state, db)
    db.write_bytes(b"")  # truncated to nothing
    with pytest.raises(StoreMismatch, match="empty"):
        check_store_matches_state(state, db)
    assert not db.read_bytes(), "the check must not turn the file into a new store"


def test_store_with_fewer_rows_is_refused_and_a_full_one_passes(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    stored_labels(db, 5)
    assert count_label_rows(db) == 5
    with pytest.raises(StoreMismatch, match="only 5"):
        check_store_matches_state(RunState(iteration=1, labels_bought=12), db)
    check_store_matches_state(RunState(iteration=1, labels_bought=5), db)
    check_store_matches_state(RunState(iteration=1, labels_bought=3), db)  # more rows (a crash after a label)


def test_old_state_without_counter_still_detects_a_lost_store(tmp_path: Path) -> None:
    with pytest.raises(StoreMismatch):
        check_store_matches_state(RunState(iteration=2), tmp_path / "labels.sqlite")
    check_store_matches_state(RunState(), tmp_path / "labels.sqlite")  # a new run: nothing expected


def test_old_state_json_loads_and_unknown_keys_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"iteration": 2, "stage": "start", "from_the_future": 1}')
    state = RunState.load(tmp_path)
    assert state.iteration == 2 and state.labels_bought == 0
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(ConfigError, match="state.json"):
        RunState.load(tmp_path)


# ── 12: paths checked before any work ───────────────────────────────────────────────


def cfg_for(tmp_path: Path, **over: object) -> RunConfig:
    data: dict[str, object] = {"runs_dir": str(tmp_path / "runs"), "name": "r"}
    data.update(over)
    return RunConfig.model_validate(data)


def test_runs_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("oops")
    with pytest.raises(ConfigError, match="runs_dir: .* is a file"):
        check_paths(cfg_for(tmp_path))


def test_unwritable_runs_dir_is_refused(tmp_path: Path) -> None:
    # /proc refuses new files even for root (chmod does not stop root).
    cfg = RunConfig.model_validate({"runs_dir": "/proc/judgerl-runs", "name": "r"})
    with pytest.raises(ConfigError, match="runs_dir: cannot write in /proc"):
        check_paths(cfg)


def test_label_store_that_is_a_folder_or_corrupt_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "store_dir"
    folder.mkdir()
    with pytest.raises(ConfigError, match="labels.store: .* is a folder"):
        check_paths(cfg_for(tmp_path, labels={"store": str(folder)}))
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(os.urandom(8192))
    with pytest.raises(ConfigError, match="labels.store: .* not a readable SQLite"):
        check_paths(cfg_for(tmp_path, labels={"store": str(corrupt)}))
    half = tmp_path / "half.sqlite"
    LabelStore(half).close()
    with sqlite3.connect(half) as con:
        con.execute("CREATE TABLE pad (x)")
        con.executemany("INSERT INTO pad VALUES (?)", [("x" * 500,) for _ in range(200)])
    data = half.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="labels.store"):
        check_paths(cfg_for(tmp_path, labels={"store": str(half)}))


def test_missing_model_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="judge.gguf.model_path: .*nope.gguf is not a file"):
        check_paths(cfg_for(tmp_path, judge={"type": "gguf", "gguf": {"model_path": str(tmp_path / "nope.gguf")}}))
    with pytest.raises(ConfigError, match="judge.prompt"):
        check_paths(cfg_for(tmp_path, judge={"prompt": str(tmp_path / "missing.txt")}))


def test_good_paths_pass_and_create_nothing(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    check_paths(cfg)
    assert not (tmp_path / "runs").exists()
    assert store_path(cfg) == tmp_path / "runs" / "r" / "labels.sqlite"


# ── 13: a run that ends with few usable labels warns ────────────────────────────────


def test_label_health_warning() -> None:
    healthy = {"labels/usable": 190.0, "labels/transient": 3.0, "budget/labels_planned": 200.0}
    assert label_health_warning(healthy) is None
    flaky = {"labels/usable": 50.0, "labels/transient": 150.0, "budget/labels_planned": 200.0}
    msg = label_health_warning(flaky)
    assert msg is not None and "50 of 200" in msg and "150" in msg and "left out of the reward model" in msg
    poor = {"labels/usable": 20.0, "labels/abstain": 170.0, "labels/failed": 10.0}
    msg = label_health_warning(poor, planned=200)
    assert msg is not None and "170 abstained" in msg and "check-judge" in msg


def test_lock_file_survives_for_next_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / "x"
    with RunLock(run_dir):
        pass
    start = time.monotonic()
    with RunLock(run_dir):
        assert time.monotonic() - start < 1.0
