"""Reward models by name (``reward.model``): how to build one, load its checkpoint, and what it fits.

The loop builds the reward model only through this registry, and the test
suite runs the contract checkers (``check_reward_model`` / ``check_reward_stream``)
over every entry, so a model added here is used and checked like the built-ins.

Built in:

* ``preference_ensemble``: an MLP ensemble over flattened observations (and
  optionally actions), Bradley–Terry on preference targets (pairwise, or
  pointwise scores made into pairs).
* ``episode_classifier``: a GRU over the episode's observations fitted on verdict
  targets (episode form), rewarding the change of its score (seed 003).
* ``caption_preference``: Motif's reward over captions: the frozen packaged
  MiniLM embedding of each step's caption, an MLP head fitted with
  Bradley–Terry (ties allowed) on preference targets (``caption_pairs``).
* ``zero_shot``: the judge's goal–baseline score used directly as the reward
  (VLM-RM); nothing to fit, no labels. With ``judge.type: embedding`` the
  score of each step's caption; with ``judge.type: clip`` CLIP's score of the
  rendered frame of the state each step reached (decision 0023).
* ``none``: no learned reward (0); with ``reward.mix.env_weight`` the agent
  learns from the env's reward alone (a baseline, or a study's naive policy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from judgerl.config import RunConfig
from judgerl.envs.spaces import flat_dim
from judgerl.types import TaskSpec


@dataclass(frozen=True)
class RewardSpec:
    """What a reward model is built for.

    Attributes:
        task: The task (captioner, texts).
        obs_space: The env's observation space (rows are ``flat_dim`` wide).
        action_space: The env's action space.
        cfg: The whole run config (``reward`` for the model; zero-shot reads ``judge.zero_shot``).
        seed: Seeds initialisation.
    """

    task: TaskSpec
    obs_space: gym.Space[Any]
    action_space: gym.Space[Any]
    cfg: RunConfig
    seed: int


@dataclass(frozen=True)
class RewardEntry:
    """One registered reward model.

    Attributes:
        name: ``reward.model`` value.
        build: ``spec -> model`` (a ``RewardModel`` or ``SequenceRewardModel``).
        load: ``path -> model`` for a fittable model's checkpoint, or ``None``.
        fits: ``"preferences"``, ``"verdicts"`` or ``None`` (nothing to fit, no labels needed).
        doc: One line for ``--help``.
        frame_size: ``cfg -> side length`` of the rendered frames the model scores (the vector env renders
            them into ``info``, ``judgerl.envs.frames``), or ``None`` for that config; ``None`` (the
            default): the model reads observation rows only.
    """

    name: str
    build: Callable[[RewardSpec], Any]
    load: Callable[[Path], Any] | None
    fits: str | None
    doc: str
    frame_size: Callable[[RunConfig], int | None] | None = None


def reward_frame_size(entry: RewardEntry, cfg: RunConfig) -> int | None:
    """Side length of the frames ``entry``'s model scores under ``cfg``, or ``None`` when it reads no frames."""
    return entry.frame_size(cfg) if entry.frame_size is not None else None


class ZeroReward:
    """Reward 0 for every transition: with ``reward.model=none`` only the env's reward (``mix.env_weight``) remains."""

    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        """Zeros, shape ``(N,)`` float32."""
        return np.zeros(len(obs), np.float32)


def _preference_ensemble(spec: RewardSpec) -> Any:
    from judgerl.reward.config import resolve_flatness
    from judgerl.reward.ensemble import RewardEnsemble
    from judgerl.reward.features import Featurizer

    names = spec.task.obs_names or ()
    ignore = [names.index(n) for n in spec.cfg.reward.ignore_obs]
    feat = Featurizer(flat_dim(spec.obs_space), spec.action_space, spec.cfg.reward.use_action, ignore)
    return RewardEnsemble(feat, resolve_flatness(spec.cfg.reward, spec.task.absorbing), spec.seed)


def _load_preference_ensemble(path: Path) -> Any:
    from judgerl.reward.ensemble import RewardEnsemble

    return RewardEnsemble.load(path)


def _episode_classifier(spec: RewardSpec) -> Any:
    from judgerl.reward.episode_reward import EpisodeClassifierReward, classifier_input_shape

    shape = classifier_input_shape(getattr(spec.obs_space, "shape", None), flat_dim(spec.obs_space))
    return EpisodeClassifierReward(shape, spec.cfg.reward, spec.seed)


def _load_episode_classifier(path: Path) -> Any:
    from judgerl.reward.episode_reward import EpisodeClassifierReward

    return EpisodeClassifierReward.load(path)


def _caption_preference(spec: RewardSpec) -> Any:
    from judgerl.reward.caption_model import ENCODERS, CaptionPreferenceReward, packaged_encoder

    encoder = packaged_encoder(ENCODERS[spec.cfg.reward.caption_encoder])
    return CaptionPreferenceReward(spec.task.id, spec.task.captioner, spec.cfg.reward, spec.seed, encoder=encoder)


def _load_caption_preference(path: Path) -> Any:
    from judgerl.reward.caption_model import CaptionPreferenceReward

    return CaptionPreferenceReward.load(path)


def _zero_shot(spec: RewardSpec) -> Any:
    zs = spec.cfg.judge.zero_shot
    pool = None
    if zs.actors > 0:  # the encoding runs in Ray actors; cache, counters and contract stay here (decision 0037)
        from judgerl.reward.score_pool import ActorPoolScorer

        pool = ActorPoolScorer(spec.cfg.judge, spec.task, zs.actors, zs.ray_address, zs.actor_gpus)
    if spec.cfg.judge.type == "clip":
        from judgerl.judges.zero_shot import build_clip_judge
        from judgerl.reward.zero_shot_frames import ClipFrameReward

        if pool is not None:
            return ClipFrameReward(pool, frame_size=_zero_shot_frame_size(spec.cfg))
        return ClipFrameReward(build_clip_judge(spec.cfg.judge, spec.task, spec.seed))
    from judgerl.judges.zero_shot import build_embedding_judge
    from judgerl.reward.zero_shot_captions import ZeroShotReward

    if pool is not None:
        return ZeroShotReward(pool, captioner=spec.task.captioner)
    return ZeroShotReward(build_embedding_judge(spec.cfg.judge, spec.task, spec.seed))


def _zero_shot_frame_size(cfg: RunConfig) -> int | None:
    if cfg.judge.type != "clip":
        return None
    from judgerl.judges.zero_shot_encoders import clip_image_size

    return clip_image_size(cfg.judge.zero_shot.model)


_REGISTRY: dict[str, RewardEntry] = {}


def register_reward_model(entry: RewardEntry, replace: bool = False) -> None:
    """Make ``entry`` buildable as ``reward.model: <entry.name>``.

    Raises:
        ValueError: The name is taken and ``replace`` is False, or ``fits`` is unknown.
    """
    if entry.fits not in (None, "preferences", "verdicts"):
        raise ValueError(f"reward model {entry.name!r}: fits must be preferences, verdicts or None, got {entry.fits!r}")
    if entry.name in _REGISTRY and not replace and _REGISTRY[entry.name] is not entry:
        raise ValueError(f"reward model {entry.name!r} is already registered; pass replace=True to override it")
    _REGISTRY[entry.name] = entry


def unregister_reward_model(name: str) -> None:
    """Remove an entry (tests that add a toy model clean up with this)."""
    _REGISTRY.pop(name, None)


def get_reward_entry(name: str) -> RewardEntry:
    """The entry registered as ``name``.

    Raises:
        KeyError: Unknown name, listing the registered ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown reward model {name!r}; registered: {', '.join(reward_model_names())}") from None


def reward_model_names() -> tuple[str, ...]:
    """Names of every registered reward model, sorted."""
    return tuple(sorted(_REGISTRY))


for _entry in (
    RewardEntry(
        "preference_ensemble",
        _preference_ensemble,
        _load_preference_ensemble,
        "preferences",
        "MLP ensemble, Bradley-Terry on preference targets",
    ),
    RewardEntry(
        "episode_classifier",
        _episode_classifier,
        _load_episode_classifier,
        "verdicts",
        "GRU episode classifier fitted on verdicts; rewards the change of its score",
    ),
    RewardEntry(
        "caption_preference",
        _caption_preference,
        _load_caption_preference,
        "preferences",
        "frozen MiniLM embedding of each step's caption + MLP head, Bradley-Terry with ties (Motif)",
    ),
    RewardEntry(
        "zero_shot",
        _zero_shot,
        None,
        None,
        "the judge's zero-shot score used directly: captions (embedding) or rendered frames (clip)",
        frame_size=_zero_shot_frame_size,
    ),
    RewardEntry("none", lambda spec: ZeroReward(), None, None, "no learned reward (env reward only, via reward.mix)"),
):
    register_reward_model(_entry)
