"""Run-directory bookkeeping: schedules, progress state and atomic writes.

The run directory is the contract between stages and between a crashed run and
its resumption: ``state.json`` says how far the loop got; labels live in the
label store and are never lost; agent and reward model are checkpointed after
every iteration.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from judgerl.checkpoints import atomic_write_text
from judgerl.configbase import ConfigError
from judgerl.faults import kill_point


def label_schedule(total: int, iterations: int, initial_fraction: float, schedule: str) -> list[int]:
    """Split a label budget over iterations; the parts sum to ``total`` exactly.

    Args:
        total: Labels to buy over the run.
        iterations: Number of outer iterations (≥ 1).
        initial_fraction: Share bought in iteration 0, before the agent has learned anything.
        schedule: ``constant`` spreads the rest evenly; ``hyperbolic`` front-loads it with
            weights ∝ 1/(1 + i), in the spirit of imitation's ``HyperbolicSchedule``.

    Returns:
        Labels per iteration, each ≥ 1 when ``total >= iterations``.
    """
    if iterations == 1:
        return [total]
    first = max(1, round(total * initial_fraction))
    first = min(first, total - (iterations - 1))
    rest = total - first
    weights = [1.0] * (iterations - 1) if schedule == "constant" else [1.0 / (1.0 + i) for i in range(1, iterations)]
    raw = [rest * w / sum(weights) for w in weights]
    parts = [max(1, int(r)) for r in raw]
    # Hand out the rounding remainder to the largest fractional parts, keep the sum exact.
    diff = rest - sum(parts)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=diff > 0)
    i = 0
    while diff != 0:
        j = order[i % len(order)]
        if diff > 0:
            parts[j] += 1
            diff -= 1
        elif parts[j] > 1:
            parts[j] -= 1
            diff += 1
        i += 1
    return [first, *parts]


def step_schedule(total: int, iterations: int, rollout: int) -> list[int]:
    """Split agent training steps over iterations in whole rollouts, never exceeding ``total``.

    Args:
        total: Configured training env steps.
        iterations: Number of outer iterations.
        rollout: Env steps per SB3 collection round (PPO: ``n_steps × n_envs``).

    Returns:
        Steps per iteration; each a multiple of ``rollout`` so SB3 does not overshoot.
    """
    rounds = total // rollout
    base, extra = divmod(rounds, iterations)
    return [(base + (1 if i < extra else 0)) * rollout for i in range(iterations)]


@dataclass
class RunState:
    """Progress of a run, saved as ``state.json`` after every stage that spends budget.

    Attributes:
        iteration: The iteration in progress (or next to start).
        stage: Last completed stage of that iteration: ``start``, ``collected``
            or ``judged`` (a fitted reward model and a trained agent are
            recorded in their checkpoints' sidecars, ``CheckpointInfo.stage``).
        env_steps_collect: Env steps spent collecting segments so far.
        env_steps_train: Env steps spent training the agent so far.
        env_steps_repeated: Env steps of collection and co-trained agent training
            that an interruption threw away (done after the last checkpoint,
            done again after resuming).
        env_steps_fresh_repeated: The same for the fresh agent: the steps an
            interrupted fresh training took beyond its last save (``fresh_agent.zip``).
        done: True once the whole run (final evaluation included) finished.
        labels_bought: Label rows the label store held (all judges, preflight included) when
            this state was saved; a resumed run refuses a store holding fewer
            (:func:`judgerl.rundir.check_store_matches_state`).
        extra: Free-form counters (e.g. the reward normaliser's state, and the
            ``in_flight`` steps of :class:`StepLedger`).
    """

    iteration: int = 0
    stage: str = "start"
    env_steps_collect: int = 0
    env_steps_train: int = 0
    env_steps_repeated: int = 0
    env_steps_fresh_repeated: int = 0
    done: bool = False
    labels_bought: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: Path) -> RunState:
        """Read ``state.json``, or a fresh state if the run is new.

        Keys this version does not know (a newer judgerl's) are ignored, missing ones take their defaults.

        Raises:
            ConfigError: ``state.json`` is unreadable or not a JSON object (names the file and the fix).
        """
        path = run_dir / "state.json"
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"{path} is unreadable ({e}); restore it from a backup, or start over under a new run name"
            ) from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def has_progress(self) -> bool:
        """True once anything was stored under this run's config (queries, labels, checkpoints)."""
        return self.iteration > 0 or self.stage != "start" or self.done or self.labels_bought > 0

    def save(self, run_dir: Path) -> None:
        """Write ``state.json`` atomically (a crash leaves the old or the new file, never half)."""
        write_atomic(run_dir / "state.json", json.dumps(asdict(self), indent=2))
        kill_point("state")


class StepLedger:
    """Keeps env steps of work not yet checkpointed in ``state.json``, so an interruption cannot hide them.

    A stage that spends env steps (collection, agent training) reports its
    progress with :meth:`record` while it runs; the count is written to
    ``state.extra["in_flight"]`` at most every ``every_s`` seconds. When the stage's
    result is saved, :meth:`clear` drops the entry in the same ``state.json``
    write. A resumed run calls :meth:`settle` with what the checkpoint holds; the
    difference is the work thrown away. A SIGKILL can still hide the steps of the
    last ``every_s`` seconds before it.

    Args:
        state: The run's state (saved through it, so one file holds everything).
        run_dir: The run directory.
        every_s: Least seconds between two writes.
    """

    def __init__(self, state: RunState, run_dir: Path, every_s: float = 1.0):
        self.state = state
        self.run_dir = run_dir
        self.every_s = every_s
        self._last = time.monotonic()

    @property
    def _entries(self) -> dict[str, int]:
        return self.state.extra.setdefault("in_flight", {})

    def record(self, key: str, steps: int) -> None:
        """Note that stage ``key`` has reached ``steps`` (written if ``every_s`` has passed)."""
        self._entries[key] = int(steps)
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.state.save(self.run_dir)

    def clear(self, key: str) -> None:
        """Forget ``key`` (its steps are now in a checkpoint); written with the next ``state.save``."""
        self._entries.pop(key, None)

    def settle(self, key: str, saved: int = 0) -> int:
        """Steps recorded for ``key`` beyond ``saved`` (the checkpoint's count); the entry is dropped.

        Returns:
            The thrown-away steps (0 when nothing was in flight).
        """
        reached = self._entries.pop(key, 0)
        return max(0, int(reached) - int(saved))


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: temporary file, fsync, rename, fsync of the folder.

    A full disk or a kill leaves the previous file intact (see :mod:`judgerl.checkpoints`).
    """
    atomic_write_text(path, text)
