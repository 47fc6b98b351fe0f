"""User errors in configs end in one clear line (issue 12, defects 12 and 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from judgerl.cli import build_parser, config_help
from judgerl.config import RunConfig, load_config
from judgerl.configbase import ConfigError


@pytest.mark.parametrize("name", ["../../x", "/abs/path", "a/../b", "a//b", ".", "..", "", "sp ace", "a/./b", "x\\y"])
def test_run_names_outside_runs_dir_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"name={name}"])
    assert "name:" in str(info.value) and "no '..'" in str(info.value)


@pytest.mark.parametrize("name", ["demo", "cartpole-s1", "sweep/flip_0.1-s2", "a.b", "v1.2/run_3"])
def test_simple_run_names_are_accepted(name: str, tmp_path: Path) -> None:
    cfg = load_config(None, [f"name={name}", f"runs_dir={tmp_path}"])
    assert cfg.run_dir.resolve().is_relative_to(tmp_path.resolve())


def test_binary_config_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match="not a text"):
        load_config(path)


def test_unparsable_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("labels:\n  total: [1, 2\nseed: 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "not valid YAML" in str(info.value) and "line" in str(info.value)
    assert "\n" not in str(info.value)


def test_config_path_that_is_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path)


def test_help_config_lists_the_choices_of_literal_fields() -> None:
    text = config_help()
    assert "Literal" not in text
    assert "labels.schedule (one of: constant, hyperbolic; default 'hyperbolic')" in text
    assert "judge.form (one of: pairwise, pointwise, episode, caption_pairs, or null; default None)" in text


def test_set_takes_several_pairs_per_flag() -> None:
    args = build_parser().parse_args(["run", "--set", "seed=1", "labels.total=30", "--set", "iterations=2"])
    assert args.set == ["seed=1", "labels.total=30", "iterations=2"]
    cfg = load_config(None, args.set)
    assert (cfg.seed, cfg.labels.total, cfg.iterations) == (1, 30, 2)


def test_default_run_config_still_validates() -> None:
    assert RunConfig.model_validate({}).name == "demo"
