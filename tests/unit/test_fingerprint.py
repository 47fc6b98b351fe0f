"""Config fingerprint on resume (issue 12, defect 5): refuse a changed meaning, unless forced and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from judgerl.config import RunConfig, dump_config
from judgerl.configbase import ConfigError
from judgerl.fingerprint import FINGERPRINT_KEYS, check_resume, diff_fingerprints, fingerprint, stored_fingerprint
from judgerl.rundir import prepare_run_dir


def cfg(tmp_path: Path, **over: object) -> RunConfig:
    data: dict[str, object] = {"runs_dir": str(tmp_path), "name": "r", "task": {"id": "cartpole/balance-v0"}}
    data.update(over)
    return RunConfig.model_validate(data)


def started(tmp_path: Path, **over: object) -> Path:
    run_dir = tmp_path / "r"
    run_dir.mkdir(exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_config(cfg(tmp_path, **over)))
    (run_dir / "state.json").write_text('{"iteration": 0, "stage": "collected"}')  # queries were stored
    return run_dir


def test_new_run_and_same_config_pass(tmp_path: Path) -> None:
    assert check_resume(tmp_path / "r", cfg(tmp_path)) == {}
    run_dir = started(tmp_path)
    # Settings that do not change what was bought may change freely (budgets of the judge, threads, eval).
    same = cfg(tmp_path, threads=4, eval={"episodes": 3}, judge={"budget": {"max_calls": 10}})
    assert check_resume(run_dir, same) == {}


@pytest.mark.parametrize(
    ("over", "key"),
    [
        ({"task": {"id": "pendulum/swingup-v0"}}, "task.id"),
        ({"reward": {"hidden_sizes": [32]}}, "reward.hidden_sizes"),
        ({"judge": {"type": "scripted"}}, "judge.type"),
        ({"judge": {"oracle": {"flip_prob": 0.1}}}, "judge.oracle.flip_prob"),
        ({"labels": {"total": 500}}, "labels.total"),
        ({"seed": 3}, "seed"),
        ({"agent": {"algo": "DQN"}}, "agent.algo"),
        ({"query": {"kind": "pointwise"}}, "query.kind"),
    ],
)
def test_a_changed_meaning_is_refused_naming_old_and_new(tmp_path: Path, over: dict, key: str) -> None:
    run_dir = started(tmp_path)
    before = (run_dir / "config.yaml").read_text()
    with pytest.raises(ConfigError) as info:
        prepare_run_dir(cfg(tmp_path, **over))
    msg = str(info.value)
    assert f"{key}:" in msg and "→" in msg and "--force-config" in msg
    # config.yaml is untouched: `judgerl evaluate` still reads the run as it was trained.
    assert (run_dir / "config.yaml").read_text() == before


def test_force_records_the_change_and_then_rewrites_config(tmp_path: Path) -> None:
    run_dir = started(tmp_path)
    new = cfg(tmp_path, reward={"hidden_sizes": [32]})
    prepare_run_dir(new, force=True)
    lines = (run_dir / "config_changes.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["changes"] == {"reward.hidden_sizes": [[64, 64], [32]]}
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["reward"]["hidden_sizes"] == [32]
    assert check_resume(run_dir, new) == {}  # the forced config is now the run's config


def test_keys_missing_from_an_old_config_take_their_defaults(tmp_path: Path) -> None:
    run_dir = started(tmp_path)
    raw = yaml.safe_load((run_dir / "config.yaml").read_text())
    del raw["reward"]["use_action"]  # an older judgerl did not write it
    del raw["agent"]["hyperparams"]
    raw["reward"]["removed_option"] = 1  # and a newer one wrote something this one no longer knows
    (run_dir / "config.yaml").write_text(yaml.safe_dump(raw))
    assert check_resume(run_dir, cfg(tmp_path)) == {}
    with pytest.raises(ConfigError, match=r"reward.use_action: False → True"):
        check_resume(run_dir, cfg(tmp_path, reward={"use_action": True}))


def test_unreadable_stored_config_is_refused_unless_forced(tmp_path: Path) -> None:
    run_dir = started(tmp_path)
    (run_dir / "config.yaml").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="config.yaml.*unreadable"):
        check_resume(run_dir, cfg(tmp_path))
    assert "config.yaml" in check_resume(run_dir, cfg(tmp_path), force=True)


def test_a_start_that_stored_nothing_may_change_its_config(tmp_path: Path) -> None:
    run_dir = started(tmp_path)
    (run_dir / "state.json").write_text('{"iteration": 0, "stage": "start"}')  # e.g. refused by the preflight
    assert check_resume(run_dir, cfg(tmp_path, judge={"type": "scripted"})) == {}


def test_fingerprint_covers_the_documented_prefixes() -> None:
    fp = fingerprint(RunConfig.model_validate({}))
    for key in ("task.id", "judge.type", "judge.prompt", "query.kind", "labels.total", "seed", "reward.hidden_sizes"):
        assert key in fp
    assert "judge.budget.max_calls" not in fp and "threads" not in fp and "eval.episodes" not in fp
    assert all(isinstance(p, str) for p in FINGERPRINT_KEYS)
    assert diff_fingerprints(fp, stored_fingerprint(RunConfig.model_validate({}).model_dump(mode="json"))) == {}
