"""Crash-safe agent checkpoints: ``agent.zip`` + replay buffer + ``agent.zip.meta.json``, and how to resume.

:func:`save_agent_atomic` writes the SB3 zip and, for off-policy agents, the
replay buffer through temporary files, keeps the previous complete checkpoint
as ``.prev`` and commits both with a sidecar that records a
:class:`~judgerl.checkpoints.CheckpointInfo` (iteration, ``num_timesteps``).
:func:`load_agent_checkpoint` loads the newest complete checkpoint, falling back
to the previous one and never raising for a damaged file.

:func:`plan_training` is the resume rule for the co-trained agent: train up to
the cumulative step target of the iteration, so a checkpoint saved just before
a crash (the iteration trained, ``state.json`` not yet saved) is not trained
again, and steps an unusable checkpoint lost are counted, not hidden.

:class:`PeriodicSave` also saves the agent inside an iteration's training
(``agent.checkpoint_every_s``), so a crash late in a long iteration loses minutes
of training, not the whole iteration; ``plan_training`` then trains only the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from judgerl.checkpoints import CheckpointInfo, Loaded, load_checkpoint, save_checkpoint
from judgerl.faults import kill_point

__all__ = [
    "CheckpointInfo",
    "PeriodicSave",
    "TrainingPlan",
    "load_agent_checkpoint",
    "plan_training",
    "replay_path",
    "save_agent_atomic",
]


def replay_path(path: str | Path) -> Path:
    """The replay buffer saved beside an agent: ``agent.zip`` → ``agent.replay.pkl``."""
    return Path(path).with_suffix(".replay.pkl")


def save_agent_atomic(model: BaseAlgorithm, path: str | Path, info: CheckpointInfo | None = None) -> CheckpointInfo:
    """Save an SB3 agent (and an off-policy replay buffer) as one crash-safe checkpoint.

    Args:
        model: The agent.
        path: ``agent.zip`` (the replay buffer goes to :func:`replay_path`).
        info: Iteration, stage and extras to record; ``num_timesteps`` is taken from ``model``.

    Returns:
        The sidecar as written.
    """
    companions: dict[str | Path, Callable[[Path], object]] = {}
    if isinstance(model, OffPolicyAlgorithm):
        companions[replay_path(path)] = lambda tmp: model.save_replay_buffer(str(tmp))
    meta = replace(info or CheckpointInfo(stage="trained"), num_timesteps=int(model.num_timesteps))
    written = save_checkpoint(path, lambda tmp: model.save(str(tmp)), meta, companions)
    kill_point(f"saved:{meta.stage}")  # fault tests stop a run right after a save of one kind (judgerl.faults)
    return written


def load_agent_checkpoint(
    path: str | Path,
    algo: str,
    venv: VecEnv,
    device: str = "cpu",
    load_zip: Callable[[Path], BaseAlgorithm] | None = None,
) -> Loaded[BaseAlgorithm]:
    """Load the newest agent checkpoint that loads (current, else ``.prev``), bound to ``venv``.

    Args:
        path: ``agent.zip``.
        algo: ``PPO``, ``SAC`` or ``DQN`` (ignored when ``load_zip`` is given).
        venv: The env to bind the agent to.
        device: torch device.
        load_zip: How to read one zip (default: ``ALGOS[algo].load(zip, env=venv, device=device)``, quiet).

    Returns:
        ``Loaded``: ``value`` the agent or ``None`` (no checkpoint, or none loads: build a new
        agent and count a retrain when ``errors`` is not empty); ``info`` its sidecar (``None`` for a
        checkpoint written before sidecars); ``source`` ``current`` or ``prev``.
    """
    from judgerl.agents.sb3 import ALGOS, quiet

    def read_zip(zip_path: Path) -> BaseAlgorithm:
        if load_zip is not None:
            return load_zip(zip_path)
        return quiet(ALGOS[algo].load(str(zip_path), env=venv, device=device))

    main = Path(path)

    def loader(zip_path: Path, files: Mapping[str, Path]) -> BaseAlgorithm:
        model = read_zip(zip_path)
        if isinstance(model, OffPolicyAlgorithm):
            buf = files.get(replay_path(main).name)
            if buf is None and not files:
                # A checkpoint from before sidecars: the buffer, if any, sits at its usual name.
                legacy = replay_path(main)
                buf = legacy if legacy.is_file() else None
            if buf is not None:
                model.load_replay_buffer(str(buf))
        return model

    return load_checkpoint(main, loader)


@dataclass(frozen=True)
class TrainingPlan:
    """What a (resumed) iteration must still train.

    Attributes:
        steps: Env steps to pass to ``agent.learn`` now (0: the checkpoint already holds them).
        already_trained: The loaded checkpoint finished this iteration's training (the run
            stopped after saving the agent and before saving ``state.json``): skip the reward
            refit and the training, go on to the evaluation.
        lost_steps: Steps spent earlier that the loaded agent does not hold (training in flight
            at a kill, or a newer checkpoint that did not load); add them to ``env_steps_repeated``.
        mid_iteration: The loaded checkpoint was saved inside this iteration's training
            (:class:`PeriodicSave`): ``steps`` is the rest of the iteration.
        mixer: The reward mixer's statistics the checkpoint recorded, to restore before training
            goes on (``None``: keep the mixer as it is).
    """

    steps: int
    already_trained: bool
    lost_steps: int
    mid_iteration: bool = False
    mixer: dict[str, Any] | None = None


def plan_training(
    iteration: int,
    steps_per_iter: Sequence[int],
    num_timesteps: int,
    info: CheckpointInfo | None = None,
    counted: int = 0,
    in_flight: int = 0,
    base_timesteps: int = 0,
) -> TrainingPlan:
    """Steps still to train in ``iteration`` given the agent that was loaded.

    The target is cumulative (``base_timesteps + sum(steps_per_iter[:iteration + 1])``), so
    training continues from what the agent holds instead of adding a whole iteration's steps
    on top of a checkpoint that already has them.

    Args:
        iteration: The iteration about to train.
        steps_per_iter: ``step_schedule(...)``.
        num_timesteps: The loaded (or new) agent's ``num_timesteps``.
        info: The checkpoint's sidecar (``Loaded.info``), if any.
        counted: ``state.env_steps_train`` as last saved.
        in_flight: Steps the ledger recorded for training in flight (``ledger.settle("train")``).
        base_timesteps: ``num_timesteps`` the agent started the run with (an ``agent.init`` agent
            restarts at 0, so normally 0).

    Returns:
        The plan.
    """
    target = base_timesteps + sum(steps_per_iter[: iteration + 1])
    steps = max(0, target - int(num_timesteps))
    # Only the sidecar can tell "trained, state.json not saved" from "nothing planned for this iteration".
    done = steps == 0 and info is not None and info.stage == "trained" and info.iteration >= iteration
    lost = max(0, max(int(counted), int(in_flight)) - int(num_timesteps))
    mid = steps > 0 and info is not None and info.stage == "training" and info.iteration == iteration
    # The mixer's statistics at the save belong to this iteration's fit: restore them to go on from there.
    saved = info.extra.get("mixer") if info is not None and (done or mid) else None
    mixer = dict(saved) if saved is not None else None
    return TrainingPlan(steps=steps, already_trained=done, lost_steps=lost, mid_iteration=mid, mixer=mixer)


class PeriodicSave(BaseCallback):
    """Saves the agent during training, at most once every ``every_s`` seconds, at a rollout start.

    At a rollout start every step counted in ``num_timesteps`` has been learned from: an on-policy
    agent has finished the update on the previous rollout, an off-policy one its gradient steps on
    the previous chunk, whose transitions are in the replay buffer saved with it. A checkpoint
    there holds exactly its steps, so a resumed run trains only the rest of the iteration
    (:func:`plan_training`). A resumed run then differs from an uninterrupted one (its envs start
    new episodes, its random streams restart); ``every_s = 0`` turns the saves off.

    A slow save waits longer: training stops while it writes, so the next save comes no sooner
    than the saves keep to ``max_share`` of the time (a SAC replay buffer of 1M humanoid
    transitions takes about a minute to write, ``benchmarks/checkpoint_cost.py``).

    Args:
        path: ``agent.zip``.
        every_s: Least seconds between two saves (also counted from the start of each ``learn``);
            0 = never.
        extra: Returns what the sidecar records besides the iteration (the mixer's statistics).
        clock: Seconds, monotonic (a test passes its own).
        max_share: Most of the wall time the saves may take, in (0, 1).
        stage: The sidecar's stage (``training``; the final evaluation's agents use their own, decision 0051).
        iteration: The iteration the sidecar records (the loop updates ``iteration`` as it goes).
    """

    def __init__(
        self,
        path: str | Path,
        every_s: float,
        extra: Callable[[], dict[str, Any]] = dict,
        clock: Callable[[], float] = time.monotonic,
        max_share: float = 0.02,
        stage: str = "training",
        iteration: int = 0,
    ) -> None:
        super().__init__(verbose=0)
        self.stage = stage
        self.path = Path(path)
        self.every_s = float(every_s)
        self.extra = extra
        self.clock = clock
        self.max_share = float(max_share)
        self.iteration = iteration  # the loop sets the iteration being trained
        self.saves = 0
        self.wait_s = self.every_s  # seconds from one save to the next, lengthened after a slow save
        self._last = 0.0
        self._first = 0

    def _on_training_start(self) -> None:
        self._last = self.clock()  # the previous iteration ended with a save
        self._first = self.model.num_timesteps  # ... holding these steps: the first rollout start saves nothing

    def _on_rollout_start(self) -> None:
        start = self.clock()
        if self.every_s <= 0 or self.model.num_timesteps == self._first or start - self._last < self.wait_s:
            return
        info = CheckpointInfo(iteration=self.iteration, stage=self.stage, extra=self.extra())
        save_agent_atomic(self.model, self.path, info)
        self.saves += 1
        self._last = self.clock()
        took = self._last - start
        self.wait_s = max(self.every_s, took * (1.0 - self.max_share) / self.max_share)

    def _on_step(self) -> bool:
        return True
