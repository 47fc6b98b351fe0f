"""Frozen data that crosses pipeline stages.

Every object here is immutable, carries documented shapes, and can be hashed by
content (``key``) so the label store can deduplicate and cache judge calls.

Shapes use ``T`` for the number of steps in a segment, ``O`` for the flattened
observation size and ``A`` for the flattened action size (1 for discrete actions,
holding the action index as a float).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

LabelStatus = Literal["ok", "abstain", "failed"]
QueryKind = str
"""The name of a registered feedback form (``judgerl.forms``): ``pairwise``, ``pointwise``, ``episode``, ..."""
Modality = Literal["frames", "captions", "state"]
NO_MESSAGE = "(no message)"
"""The caption of a step where nothing was reported (e.g. NetHack's empty message line). A caption is
never empty (``check_task``); forms that sample captions (``caption_pairs``) treat this one as empty."""
END_CAPTION = "the episode is over"
"""The default caption of the absorbing steps that pad a terminated episode (``TaskSpec.end_caption``)."""
EXPLORED_INFO_KEY = "explored_cells"
"""The ``info`` key of a step's exploration count (cells of the level seen for the first time, an int >= 0),
reported by the envs of tasks with ``TaskSpec.explores`` and paid by ``reward.mix.explore_weight``."""


def _hash_arrays(*parts: Any) -> str:
    """Return a sha256 hex digest over arrays, strings and None values, in order."""
    h = hashlib.sha256()
    for part in parts:
        if part is None:
            h.update(b"\x00none")
        elif isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            h.update(str(arr.dtype).encode())
            h.update(str(arr.shape).encode())
            h.update(arr.tobytes())
        elif isinstance(part, str | bytes):
            h.update(part.encode() if isinstance(part, str) else part)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x1f")
    return h.hexdigest()


@dataclass(frozen=True)
class TaskSpec:
    """A task described in words, plus what is needed to run and score it.

    Attributes:
        id: Registry name, e.g. ``"pendulum/swingup-v0"``.
        instruction: The goal in plain words, shown to the judge.
        env_id: Gymnasium id of the environment.
        env_kwargs: Keyword arguments for ``gymnasium.make``.
        modalities: What the judge may see: rendered ``frames``, ``captions`` of
            the state in words, or the raw ``state`` as text.
        captioner: Maps one observation, shape ``(O,)``, to a short description
            in words (qualitative, not only numbers).
        success: Maps an episode's true return and its final observation to
            ``True`` when the task counts as solved.
        max_episode_steps: Time limit used for collection and evaluation.
        default_algo: The SB3 algorithm that suits the action space.
        question: A yes/no question for pointwise judges about one state.
        goal_text: Goal description for zero-shot similarity judges.
        baseline_text: Neutral description of the scene (VLM-RM's baseline).
        segment_length: Default segment length ``T`` for pairwise queries.
        absorbing: Whether finished episodes are padded with an absorbing state
            so that termination is visible inside fixed-length segments.
        end_caption: The caption of those absorbing steps, what a judge reads
            once the episode has ended: say what ending means for the task
            (CartPole: the pole fell), not only that it ended.
        oracle_verdict: Ground-truth yes/no answer to ``question`` for a
            segment or episode (used by oracle judges for pointwise/episode
            queries and by preflight agreement); ``None`` if the task has none.
        vec_env: Optional batched environment ``(n_envs, seed) -> VecEnv`` for
            training and evaluation (same rules and ``info`` keys as the gym
            env, faster); collection with captions and frames always uses the
            gym env.
        mirror: The task's left-right mirror symmetry, or ``None``: maps
            observations ``(T, O)`` and actions ``(T, A)`` to the mirrored
            ones, under which the true reward and the dynamics are unchanged
            and the rendered picture is flipped left to right. Used by
            ``reward.mirror`` (a mirrored copy of every labelled pair).
        obs_names: One name per column of the flat observation (``len == O``),
            or ``None``: lets ``reward.ignore_obs`` name the columns a learned
            reward must not read (Pendulum's ``theta_dot``).
        explores: Whether every step's ``info`` holds :data:`EXPLORED_INFO_KEY`, how much of the world the
            step saw for the first time (NetHack: map cells), so ``reward.mix.explore_weight`` can pay for it.
    """

    id: str
    instruction: str
    env_id: str
    captioner: Callable[[np.ndarray], str]
    success: Callable[[float, np.ndarray], bool]
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    modalities: tuple[Modality, ...] = ("captions", "state")
    max_episode_steps: int = 200
    default_algo: str = "PPO"
    question: str = ""
    goal_text: str = ""
    baseline_text: str = ""
    segment_length: int = 25
    absorbing: bool = False
    end_caption: str = END_CAPTION
    oracle_verdict: Callable[[Segment], bool] | None = None
    vec_env: Callable[[int, int | None], Any] | None = None
    mirror: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    obs_names: tuple[str, ...] | None = None
    explores: bool = False


@dataclass(frozen=True)
class Segment:
    """A contiguous piece of one episode.

    Attributes:
        obs: Observations, shape ``(T, O)``, float32.
        acts: Actions, shape ``(T, A)``, float32.
        env_rewards: True environment rewards, shape ``(T,)``, float32.
        dones: ``1.0`` for padded absorbing steps after the episode ended,
            shape ``(T,)``, float32. All zeros when no padding was needed.
        captions: One caption per step (``len == T``), or empty when captions
            were not produced.
        frames: Rendered RGB frames, shape ``(T, H, W, 3)`` uint8, or ``None``.
        episode_id: Identifier of the source episode (unique within a run).
        start: Index of the first step inside the source episode.
        truth: Ground-truth facts about the segment (e.g. ``{"cat_harmed": 1.0}``)
            for oracle judges and evaluation. Never shown to model judges and
            not part of ``key``.
    """

    obs: np.ndarray
    acts: np.ndarray
    env_rewards: np.ndarray
    dones: np.ndarray
    captions: tuple[str, ...] = ()
    frames: np.ndarray | None = None
    episode_id: str = ""
    start: int = 0
    truth: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = len(self.obs)
        for name in ("acts", "env_rewards", "dones"):
            if len(getattr(self, name)) != t:
                raise ValueError(f"Segment.{name} has {len(getattr(self, name))} steps, obs has {t}")
        if self.captions and len(self.captions) != t:
            raise ValueError(f"Segment.captions has {len(self.captions)} entries, obs has {t}")
        if self.frames is not None and len(self.frames) != t:
            raise ValueError(f"Segment.frames has {len(self.frames)} frames, obs has {t}")

    @property
    def length(self) -> int:
        """Number of steps ``T``."""
        return int(len(self.obs))

    @property
    def true_return(self) -> float:
        """Sum of the true environment rewards over the segment."""
        return float(np.sum(self.env_rewards))

    @property
    def key(self) -> str:
        """Content hash of everything a judge could see."""
        return _hash_arrays(self.obs, self.acts, self.dones, "\n".join(self.captions), self.frames)


@dataclass(frozen=True)
class Query:
    """A question for a judge about one or two segments.

    Attributes:
        kind: The feedback form asked for, a name registered in
            ``judgerl.forms`` (built in: ``pairwise`` -- two segments, which is
            better; ``pointwise`` -- one segment, a score; ``episode`` -- one
            whole episode, a verdict).
        segments: As many segments as the form's ``arity`` (pairwise: A then B).
    """

    kind: QueryKind
    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        from judgerl.forms.registry import form_arity  # the registry imports this module

        want = form_arity(self.kind)
        if len(self.segments) != want:
            raise ValueError(f"a {self.kind} query needs {want} segment(s), got {len(self.segments)}")

    @property
    def key(self) -> str:
        """Content hash of the query (kind and the segments in order)."""
        return _hash_arrays(self.kind, *[s.key for s in self.segments])


@dataclass(frozen=True)
class Provenance:
    """Where a label came from and what it cost.

    Attributes:
        judge_id: Stable identifier of the judge configuration.
        model: Model name (``"oracle"`` for oracle judges).
        prompt_sha: sha256 of the prompt template (empty for oracles).
        raw_response: The judge's answer as received, unparsed.
        swapped: Whether the pair was shown in the order B, A.
        tokens_in: Prompt tokens billed (0 when unknown or free).
        tokens_out: Completion tokens billed.
        cost_usd: Money spent on this label, in US dollars.
        latency_s: Wall-clock seconds the judgment took.
        timestamp: Unix time the label was produced.
        is_oracle: True when the label was computed from ground truth.
        retries: Number of retried calls spent on this label.
        requests: HTTP requests actually sent for this label, retries and
            both orders or both segments included (0 for judges that send
            none: oracles, local models, a call refused before sending).
            Budgets are carried over from this count.
        error: Why the label is not ``ok`` (parse error, refusal, timeout...).
        transient: True when nothing usable was paid for and asking again may
            succeed (timeout, server error after retries, budget stop); the
            cache re-asks such queries on resume instead of reusing them.
    """

    judge_id: str
    model: str
    prompt_sha: str = ""
    raw_response: str = ""
    swapped: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    timestamp: float = field(default_factory=time.time)
    is_oracle: bool = False
    retries: int = 0
    error: str = ""
    transient: bool = False
    requests: int = 0


@dataclass(frozen=True)
class Label:
    """One judgment about one query.

    Attributes:
        query_key: ``Query.key`` of the query this answers.
        status: ``ok`` (usable), ``abstain`` (the judge declined or was
            inconsistent) or ``failed`` (no usable answer: parse error, refusal,
            timeout, budget). Only ``ok`` labels train reward models.
        preference: For pairwise queries, probability that segment A (the first
            in ``Query.segments``) is better; 0.5 is a tie. ``None`` otherwise.
        value: For pointwise/episode queries, the score or verdict (1.0 = yes).
        provenance: Who produced it, how, and at what cost.
    """

    query_key: str
    status: LabelStatus
    provenance: Provenance
    preference: float | None = None
    value: float | None = None

    def __post_init__(self) -> None:
        if self.status == "ok" and self.preference is None and self.value is None:
            raise ValueError("an ok label needs a preference or a value")
        if self.preference is not None and not 0.0 <= self.preference <= 1.0:
            raise ValueError(f"preference must lie in [0, 1], got {self.preference}")


@dataclass(frozen=True)
class Episode:
    """A whole episode as collected.

    Attributes:
        obs: Observations before each step, shape ``(T, O)`` float32.
        acts: Actions, shape ``(T, A)`` float32.
        env_rewards: True rewards, shape ``(T,)`` float32.
        terminated: True when the episode ended by termination, not time limit.
        final_obs: Observation after the last step, shape ``(O,)``.
        captions: One caption per step, or empty.
        frames: Rendered frames ``(T, H, W, 3)`` uint8, or ``None``.
        episode_id: Unique id within a run.
        infos: Per-episode extra facts (e.g. ``{"cat_harmed": True}``).
        truncated: True when the time limit ended it. An episode with neither
            ``terminated`` nor ``truncated`` is an unfinished tail.
        final_caption: Caption of ``final_obs`` (``""`` when captions were not produced).
        final_frame: Frame of ``final_obs``, ``(H, W, 3)`` uint8, or ``None``.
    """

    obs: np.ndarray
    acts: np.ndarray
    env_rewards: np.ndarray
    terminated: bool
    final_obs: np.ndarray
    captions: tuple[str, ...] = ()
    frames: np.ndarray | None = None
    episode_id: str = ""
    infos: Mapping[str, Any] = field(default_factory=dict)
    truncated: bool = False
    final_caption: str = ""
    final_frame: np.ndarray | None = None

    @property
    def length(self) -> int:
        """Number of steps ``T``."""
        return int(len(self.obs))

    @property
    def complete(self) -> bool:
        """True when the episode ended (terminated or truncated), not cut off by collection."""
        return bool(self.terminated or self.truncated)

    @property
    def true_return(self) -> float:
        """Undiscounted sum of true rewards."""
        return float(np.sum(self.env_rewards))


@dataclass(frozen=True)
class EvalResult:
    """Ground-truth evaluation of a policy.

    Attributes:
        return_mean: Mean true episode return.
        return_std: Standard deviation of the true return.
        success_rate: Fraction of episodes the task counts as solved, in [0, 1].
        episodes: Number of evaluation episodes.
        length_mean: Mean episode length in steps.
        extra: Further task-specific metrics (namespaced ``eval/...``).
    """

    return_mean: float
    return_std: float
    success_rate: float
    episodes: int
    length_mean: float
    extra: Mapping[str, float] = field(default_factory=dict)

    def as_metrics(self, prefix: str = "eval") -> dict[str, float]:
        """Flatten into namespaced metric keys, e.g. ``eval/return_mean``."""
        out = {
            f"{prefix}/return_mean": self.return_mean,
            f"{prefix}/return_std": self.return_std,
            f"{prefix}/success_rate": self.success_rate,
            f"{prefix}/episodes": float(self.episodes),
            f"{prefix}/length_mean": self.length_mean,
        }
        out.update({f"{prefix}/{k}": float(v) for k, v in self.extra.items()})
        return out
