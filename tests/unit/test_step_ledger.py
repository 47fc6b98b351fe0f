"""StepLedger: in-flight env steps survive in state.json and settle against the checkpoint."""

import json
from pathlib import Path

from judgerl.runstate import RunState, StepLedger


def on_disk(run_dir: Path) -> dict:
    return json.loads((run_dir / "state.json").read_text())


def test_records_are_throttled_and_written_through_the_state(tmp_path: Path) -> None:
    state = RunState()
    ledger = StepLedger(state, tmp_path, every_s=0.0)
    ledger.record("train", 128)
    assert on_disk(tmp_path)["extra"]["in_flight"] == {"train": 128}
    slow = StepLedger(state, tmp_path, every_s=3600.0)
    slow.record("train", 256)  # kept in memory, not written yet
    assert on_disk(tmp_path)["extra"]["in_flight"] == {"train": 128}
    state.save(tmp_path)  # any later save carries it
    assert on_disk(tmp_path)["extra"]["in_flight"] == {"train": 256}


def test_settle_counts_only_steps_beyond_the_checkpoint(tmp_path: Path) -> None:
    state = RunState()
    ledger = StepLedger(state, tmp_path, every_s=0.0)
    ledger.record("train", 5000)
    ledger.record("collect", 120)
    resumed = RunState.load(tmp_path)
    again = StepLedger(resumed, tmp_path)
    assert again.settle("train", saved=4096) == 904
    assert again.settle("train", saved=4096) == 0  # settled once only
    assert again.settle("collect") == 120
    assert again.settle("fresh") == 0  # nothing was in flight
    ledger2 = StepLedger(RunState(), tmp_path, every_s=0.0)
    ledger2.record("train", 4096)
    assert ledger2.settle("train", saved=8192) == 0  # the checkpoint is ahead: nothing lost


def test_clear_drops_an_entry_whose_result_is_saved(tmp_path: Path) -> None:
    state = RunState()
    ledger = StepLedger(state, tmp_path, every_s=0.0)
    ledger.record("collect", 300)
    ledger.clear("collect")
    state.save(tmp_path)
    assert StepLedger(RunState.load(tmp_path), tmp_path).settle("collect") == 0


def test_old_state_files_without_the_new_fields_still_load(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"iteration": 2, "stage": "start", "extra": {}}))
    state = RunState.load(tmp_path)
    assert state.env_steps_repeated == 0 and state.env_steps_fresh_repeated == 0
