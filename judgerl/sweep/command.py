"""``judgerl sweep CONFIG --grid key=v1,v2 --seeds 0..4``: every (point, seed) a run; one table at the end.

The sweep directory (``--out``) holds ``runs/<point>/s<seed>/`` (ordinary run
directories, each with its own label store), ``logs/`` (each run's output),
``results/`` (each run's record, written when it ends) and the table:
``sweep.json``, ``sweep.md``, ``sweep.png``. Every run's config is checked in the
driver before anything starts. Re-running the same command skips finished runs
(their ``eval.json`` exists; their stored config must match, else the sweep
refuses) and resumes unfinished ones. See docs/scale.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from judgerl.configbase import ConfigError

DESCRIPTION = """\
Run one config over a grid of overrides and seeds, each (point, seed) an ordinary `judgerl run` (its own
run directory and label store under OUT/runs, preflight gate included unless --force), as Ray tasks on a
local Ray bound to 127.0.0.1 (default), on an existing cluster (--address), or as local subprocesses
(--backend local, no Ray needed). Writes OUT/sweep.json, OUT/sweep.md (mean ± std over seeds per point,
every seed listed) and OUT/sweep.png. Run the same command again to resume: finished runs are skipped.

examples:
  judgerl sweep configs/pendulum_oracle.yaml --grid judge.oracle.flip_prob=0.0,0.1 --seeds 0..4
  judgerl sweep configs/pendulum_openai.yaml --grid labels.total=100,200 --seeds 0..2 --address auto
  judgerl sweep --points benchmarks/sweeps/learning_points.yaml --seeds 0..4 --out runs/sweeps/learning
"""


def add_parser(sub: Any) -> None:
    """Register the ``sweep`` verb on the CLI's subparsers."""
    s = sub.add_parser(
        "sweep",
        help="run a config over a grid of overrides x seeds (Ray tasks or local processes), one table",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("config", nargs="?", default=None, help="YAML config; omitted = built-in defaults")
    s.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a config key and its values (repeatable: the grid is their product); commas inside [] separate nothing",
    )
    s.add_argument("--points", default=None, metavar="FILE", help="YAML {name: {key: value, ...}}: named points")
    s.add_argument("--seeds", default="0", help="seeds: 0..4 (inclusive), 0,2,5 or 3 (default 0)")
    s.add_argument(
        "--set",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="overrides for every run (before the point's)",
    )
    s.add_argument("--out", default=None, help="sweep directory (default: <runs_dir>/<name>-sweep of the config)")
    s.add_argument("--backend", choices=["ray", "local"], default="ray", help="ray (default) or local subprocesses")
    s.add_argument(
        "--address",
        default=None,
        help="Ray cluster to use: auto, or host:port of its head (default: start a local Ray on 127.0.0.1)",
    )
    s.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all); 1 per run")
    s.add_argument("--jobs", type=int, default=1, help="runs at once with --backend local (default 1)")
    s.add_argument("--metric", default=None, help="metric plotted in sweep.png (default: fresh normalised score...)")
    s.add_argument("--force", action="store_true", help="run even if a judge fails its preflight")
    s.add_argument("--force-config", action="store_true", help="resume unfinished runs although their config changed")
    s.set_defaults(func=cmd_sweep)


def _plan(args: argparse.Namespace, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Check every run's config; split the runs into finished records and specs to execute."""
    from judgerl.config import load_config, validate_references
    from judgerl.fingerprint import check_resume
    from judgerl.sweep.execute import key_metrics
    from judgerl.sweep.grid import load_points, parse_grid, parse_seeds, plan_runs

    grid, seeds = parse_grid(args.grid), parse_seeds(args.seeds)
    points = load_points(args.points) if args.points else []
    config = str(Path(args.config).resolve()) if args.config else None
    finished, specs = [], []
    for run in plan_runs(grid, seeds, points):
        sets = [*args.set, *(f"{k}={v}" for k, v in run.point), f"seed={run.seed}"]
        sets += [f"runs_dir={out / 'runs'}", f"name={run.name}"]
        cfg = load_config(config, sets)
        validate_references(cfg)
        if Path(cfg.labels.store).is_absolute():
            raise ConfigError("labels.store is an absolute path: every run of a sweep keeps its own label store")
        ident = {"label": run.label, "point": dict(run.point), "seed": run.seed, "name": run.name}
        result = out / "results" / f"{run.key}.json"
        if (cfg.run_dir / "eval.json").exists():
            try:
                check_resume(cfg.run_dir, cfg)
            except ConfigError as e:
                raise ConfigError(f"{run.name} finished under another config ({e}); use a new --out") from None
            earlier = _read(result)
            finished.append(
                {
                    **ident,
                    "status": "skipped",
                    "error": "",
                    "wall_s": float(earlier.get("wall_s", 0.0)),
                    "run_dir": str(cfg.run_dir),
                    "metrics": key_metrics(cfg.run_dir / "eval.json"),
                    "backend": earlier.get("backend", ""),
                }
            )
            continue
        result.unlink(missing_ok=True)  # a stale record of an earlier, unfinished attempt
        specs.append(
            {
                "config": config,
                "sets": sets,
                "force": args.force,
                "force_config": args.force_config,
                "cwd": os.getcwd(),
                "log": str(out / "logs" / f"{run.key}.log"),
                "result": str(result),
                "run": ident,
                "backend": args.backend,
            }
        )
    meta = {"config": config, "sets": list(args.set), "grid": dict(grid), "seeds": seeds, "points": args.points}
    return finished, specs, meta


def _read(path: Path) -> dict[str, Any]:
    import json

    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def default_out(args: argparse.Namespace) -> Path:
    """``<runs_dir>/<name>-sweep`` of the config (plus ``--set``)."""
    from judgerl.config import load_config

    cfg = load_config(args.config, list(args.set))
    return Path(cfg.runs_dir) / f"{cfg.name}-sweep"


def cmd_sweep(args: argparse.Namespace) -> int:
    """Plan, run what is not finished, write the table; exit 1 when a run did not finish."""
    from judgerl.sweep.backends import run_local, run_ray
    from judgerl.sweep.table import write_table

    out = Path(args.out).resolve() if args.out else default_out(args).resolve()
    out.mkdir(parents=True, exist_ok=True)
    finished, specs, meta = _plan(args, out)
    order = {r["name"]: i for i, r in enumerate([*finished, *(s["run"] for s in specs)])}
    records = list(finished)
    total = len(records) + len(specs)
    print(f"sweep {out}: {total} runs, {len(finished)} finished already, {len(specs)} to run ({args.backend})")
    t0 = time.perf_counter()

    def summary() -> dict[str, Any]:
        runs = sorted(records, key=lambda r: order.get(r["name"], len(order)))
        return {**meta, "out": str(out), "backend": args.backend, "wall_s": time.perf_counter() - t0, "runs": runs}

    def on_record(record: dict[str, Any]) -> None:
        records.append(record)
        shown = ", ".join(f"{k}={v:.3g}" for k, v in record["metrics"].items() if k.startswith("eval/"))
        err = f" ({record['error'][:200]})" if record.get("error") else ""
        print(f"[{len(records)}/{total}] {record['name']}: {record['status']} in {record['wall_s']:.1f} s {shown}{err}")
        write_table(out, summary(), args.metric)  # kept current: a stopped sweep still has its table

    if specs and args.backend == "ray":
        run_ray(specs, on_record, args.address, args.num_cpus)
    elif specs:
        run_local(specs, on_record, args.jobs)
    final = write_table(out, summary(), args.metric)
    print(f"table: {out / 'sweep.md'}  ({out / 'sweep.json'}{', ' + final['plot'] if final['plot'] else ''})")
    unfinished = [r["name"] for r in records if r["status"] not in ("done", "skipped")]
    if unfinished:
        print(f"judgerl: {len(unfinished)} runs did not finish ({', '.join(unfinished[:5])}); see {out / 'logs'}")
    return 1 if unfinished else 0
