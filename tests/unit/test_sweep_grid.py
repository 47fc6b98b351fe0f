"""The sweep's plan: grid parsing, seeds, named points, run names; and its table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgerl.config import load_config
from judgerl.configbase import ConfigError
from judgerl.sweep.grid import load_points, parse_grid, parse_seeds, plan_runs, slugify, split_values
from judgerl.sweep.table import aggregate, write_table


def test_values_split_on_top_level_commas_only() -> None:
    assert split_values("0.0,0.1") == ["0.0", "0.1"]
    assert split_values("[0.0,0.1],[0.0]") == ["[0.0,0.1]", "[0.0]"]
    assert split_values("{a: 1, b: 2},'x,y'") == ["{a: 1, b: 2}", "'x,y'"]


def test_grid_and_seeds_are_parsed_and_checked() -> None:
    assert parse_grid(["judge.oracle.flip_prob=0.0,0.1", "labels.total=50"]) == [
        ("judge.oracle.flip_prob", ["0.0", "0.1"]),
        ("labels.total", ["50"]),
    ]
    assert parse_seeds("0..4") == [0, 1, 2, 3, 4] and parse_seeds("0,2,5") == [0, 2, 5] and parse_seeds("3") == [3]
    for bad in (["seed=1,2"], ["novalue"], ["a=1", "a=2"], ["a=1,,2"]):
        with pytest.raises(ConfigError):
            parse_grid(bad)
    for bad_seeds in ("a..b", "1,1", "-1..2", "4..3"):
        with pytest.raises(ConfigError):
            parse_seeds(bad_seeds)


def test_plan_is_the_product_of_points_grid_and_seeds(tmp_path: Path) -> None:
    points_file = tmp_path / "points.yaml"
    points_file.write_text(
        "pendulum: {task.id: pendulum/swingup-v0, collect_noise: [0.0, 0.1]}\n"
        "cartpole: {task.id: cartpole/balance-v0}\n"
    )
    points = load_points(points_file)
    runs = plan_runs(parse_grid(["judge.oracle.flip_prob=0.0,0.1"]), [0, 1], points)
    assert len(runs) == 2 * 2 * 2 and len({r.name for r in runs}) == 8
    first = runs[0]
    assert first.label == "pendulum,judge.oracle.flip_prob=0.0" and first.seed == 0 and runs[1].seed == 1
    sets = [f"{k}={v}" for k, v in first.point]
    cfg = load_config(None, [*sets, f"seed={first.seed}", f"name={first.name}"])  # names and values load as --set
    assert cfg.collect_noise == [0.0, 0.1] and cfg.judge.oracle.flip_prob == 0.0 and cfg.task.id.startswith("pend")
    bad = tmp_path / "bad.yaml"
    bad.write_text("p: {seed: 3}\n")
    with pytest.raises(ConfigError, match="sets"):
        load_points(bad)


def test_slugs_are_path_safe_and_distinct() -> None:
    a, b = slugify("collect_noise=[0.0,0.1]"), slugify("collect_noise=[0.0;0.1]")
    assert a != b and all(c.isalnum() or c in "_.-" for c in a + b)
    assert slugify("judge.oracle.flip_prob=0.1") == "judge.oracle.flip_prob-0.1"


def test_table_means_stds_and_unfinished_runs(tmp_path: Path) -> None:
    def rec(seed: int, ret: float | None, status: str = "done") -> dict:
        metrics = {} if ret is None else {"eval/return_mean": ret, "eval/fresh/normalized_score": ret / 100}
        return {
            "label": "p=1",
            "point": {"p": "1"},
            "seed": seed,
            "name": f"p-1/s{seed}",
            "status": status,
            "error": "",
            "wall_s": 2.0 * (seed + 1),
            "metrics": metrics,
        }

    runs = [rec(0, 10.0), rec(1, 20.0, "skipped"), rec(2, None, "failed")]
    [point] = aggregate(runs)
    m = point["metrics"]["eval/return_mean"]
    assert point["finished"] == 2 and m["mean"] == 15.0 and m["std"] == pytest.approx(7.0710678)
    assert m["values"] == {"0": 10.0, "1": 20.0}
    summary = {
        "config": None,
        "grid": {"p": ["1"]},
        "seeds": [0, 1, 2],
        "backend": "local",
        "wall_s": 1.0,
        "out": str(tmp_path),
        "runs": runs,
    }
    out = write_table(tmp_path, summary, None)
    assert out["metric"] == "eval/fresh/normalized_score" and (tmp_path / "sweep.png").stat().st_size > 1000
    md = (tmp_path / "sweep.md").read_text()
    assert "15.000 ± 7.071" in md and "| p=1 | 2 | failed |" in md
    assert json.loads((tmp_path / "sweep.json").read_text())["points"][0]["finished"] == 2


def test_missing_ray_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from judgerl.sweep.backends import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    with pytest.raises(ConfigError, match=r'pip install -c constraints.txt -e "\.\[ray\]".*--backend local'):
        require_ray(local=False)
