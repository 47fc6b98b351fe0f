"""A sweep's plan: grid points × seeds, each one run with its own run directory under the sweep directory.

``--grid key=v1,v2`` (repeatable; values are split on commas outside brackets,
so ``--grid collect_noise=[0.0,0.1],[0.0]`` gives two lists) and ``--points
FILE.yaml`` (named bundles of overrides, for points that differ in several keys,
e.g. one per task) multiply into points; ``--seeds 0..4`` (or ``0,2,5``)
repeats each point. A run's name is ``<point slug>/s<seed>`` under
``<out>/runs``, so re-running the same sweep finds the same run directories.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from judgerl.configbase import ConfigError

RESERVED_KEYS = ("seed", "name", "runs_dir")
"""Keys the sweep sets itself for every run; a grid over them is refused."""

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class SweepRun:
    """One (grid point, seed) of a sweep.

    Attributes:
        point: The point's overrides, ``(("key", "raw value"), ...)`` in grid order.
        label: Human-readable point, e.g. ``judge.oracle.flip_prob=0.1``.
        slug: The point as a path component (run names and file names).
        seed: The run's master seed.
    """

    point: tuple[tuple[str, str], ...]
    label: str
    slug: str
    seed: int

    @property
    def name(self) -> str:
        """The run's name under the sweep's ``runs`` directory: ``<slug>/s<seed>``."""
        return f"{self.slug}/s{self.seed}"

    @property
    def key(self) -> str:
        """A flat file stem for logs and results: ``<slug>-s<seed>``."""
        return f"{self.slug}-s{self.seed}"


def split_values(text: str) -> list[str]:
    """Split ``v1,v2`` on commas that are not inside ``[]``, ``{}`` or quotes.

    Args:
        text: The part of a ``--grid`` item after ``=``.

    Returns:
        The raw values (YAML scalars or flow collections, parsed later like ``--set``).
    """
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``["a.b=1,2", "c=x"]`` → ``[("a.b", ["1", "2"]), ("c", ["x"])]``.

    Raises:
        ConfigError: An item without ``=``, an empty value, a key given twice, or a reserved key.
    """
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"--grid {item!r} must look like key=v1,v2 (e.g. judge.oracle.flip_prob=0.0,0.1)")
        if key in RESERVED_KEYS:
            raise ConfigError(f"--grid {key}: the sweep sets {key} itself per run; use --seeds for seeds")
        if any(key == k for k, _ in grid):
            raise ConfigError(f"--grid {key} is given twice; list all its values in one --grid")
        values = split_values(raw)
        if any(v == "" for v in values):
            raise ConfigError(f"--grid {item!r} has an empty value")
        grid.append((key, values))
    return grid


def parse_seeds(text: str) -> list[int]:
    """``0..4`` (inclusive) → ``[0, 1, 2, 3, 4]``; ``0,2,5`` → ``[0, 2, 5]``; ``3`` → ``[3]``.

    Raises:
        ConfigError: Not of those forms, a negative seed, or a seed twice.
    """
    try:
        if ".." in text:
            lo, hi = (int(x) for x in text.split("..", 1))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds {text!r} must look like 0..4 or 0,1,2") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: give distinct non-negative seeds, e.g. 0..4")
    return seeds


def load_points(path: str | Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Named bundles of overrides from YAML: ``{name: {dotted.key: value, ...}, ...}``.

    Returns:
        ``[(name, [(key, raw value), ...]), ...]`` in file order; values are
        dumped back to YAML flow text, so they are parsed like ``--set``.

    Raises:
        ConfigError: The file is missing, not a mapping of mappings, or uses a reserved key.
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"--points {p}: cannot read it as YAML ({e})") from None
    if not isinstance(data, Mapping) or not data or not all(isinstance(v, Mapping) for v in data.values()):
        raise ConfigError(f"--points {p} must map point names to mappings of overrides, e.g. pendulum: {{seed: 1}}")
    out = []
    for name, sets in data.items():
        bad = [k for k in sets if k in RESERVED_KEYS]
        if bad:
            raise ConfigError(f"--points {p}: point {name!r} sets {bad}; the sweep sets those itself")
        out.append((str(name), [(str(k), _flow(v)) for k, v in sets.items()]))
    return out


def _flow(value: Any) -> str:
    """A YAML value as one line that ``yaml.safe_load`` reads back to the same value."""
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def slugify(label: str) -> str:
    """A path component for ``label``; a short hash is added when characters had to be replaced."""
    slug = _SAFE.sub("_", label.replace("=", "-")).strip("._") or "point"
    if slug != label.replace("=", "-"):
        slug += "-" + hashlib.sha256(label.encode()).hexdigest()[:6]
    return slug[:120]


def plan_runs(
    grid: Sequence[tuple[str, Sequence[str]]],
    seeds: Sequence[int],
    points: Sequence[tuple[str, Sequence[tuple[str, str]]]] = (),
) -> list[SweepRun]:
    """Every (point, seed): named points × the grid's cartesian product, then seeds.

    Args:
        grid: ``[(key, values), ...]`` from :func:`parse_grid`.
        seeds: Seeds from :func:`parse_seeds`.
        points: Named override bundles from :func:`load_points` (none: the grid alone).

    Returns:
        Runs in point-major order (all seeds of the first point first).
    """
    bundles: list[tuple[str, list[tuple[str, str]]]] = [(n, list(s)) for n, s in points] or [("", [])]
    combos = list(itertools.product(*[[(k, v) for v in vals] for k, vals in grid])) if grid else [()]
    runs = []
    for (bundle, sets), combo in itertools.product(bundles, combos):
        label = ",".join([*([bundle] if bundle else []), *(f"{k}={v}" for k, v in combo)]) or "base"
        slug = slugify(label)
        for seed in seeds:
            runs.append(SweepRun(tuple([*sets, *combo]), label, slug, seed))
    return runs
