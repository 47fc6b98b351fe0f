"""Typed configuration: one model per pipeline stage, assembled into ``RunConfig``.

Configs are pydantic models with ``extra="forbid"``: an unknown key, a wrong type
or an out-of-range value is reported with the field's dotted path and a hint
before any work starts. Field descriptions double as ``--help`` text
(``judgerl run --help-config``) and as documentation (docs/config.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from judgerl.config_loading import dump_config, load_model, parse_overrides
from judgerl.configbase import ConfigError, _Stage
from judgerl.judges.config import (
    BudgetConfig,
    ClientConfig,
    GGUFConfig,
    JudgeConfig,
    OracleNoiseConfig,
    PriceConfig,
    ZeroShotConfig,
)
from judgerl.reward.config import ClassifierConfig, MixConfig, RewardConfig

__all__ = [
    "AgentConfig",
    "ClassifierConfig",
    "MixConfig",
    "BudgetConfig",
    "ClientConfig",
    "ConfigError",
    "EnvConfig",
    "EvalConfig",
    "GGUFConfig",
    "JudgeConfig",
    "LabelConfig",
    "OracleNoiseConfig",
    "PriceConfig",
    "QueryConfig",
    "RewardConfig",
    "RunConfig",
    "TaskConfig",
    "ZeroShotConfig",
    "dump_config",
    "load_config",
    "load_model",
    "parse_overrides",
    "validate_references",
]


class TaskConfig(_Stage):
    """① What to solve: a built-in task id (see ``judgerl tasks``)."""

    id: str = Field("pendulum/swingup-v0", description="Task id, e.g. pendulum/swingup-v0; `judgerl tasks` lists them.")
    render: bool = Field(False, description="Render RGB frames during collection (needed by image judges).")
    segment_length: int | None = Field(
        None, ge=1, le=1000, description="Steps per compared segment; default: the task's own."
    )
    frame_size: int | None = Field(
        256, ge=8, description="Longer side of stored frames in pixels (downscaled); null keeps full-size renders."
    )


class EnvConfig(_Stage):
    """Environment settings for training and collection."""

    n_envs: int | None = Field(
        None, ge=1, le=256, description="Parallel environments (DummyVecEnv); default: 8 for PPO, 1 for SAC/DQN."
    )
    absorbing_offset: bool | None = Field(
        None,
        description="Subtract the reward model's absorbing-state reward so an episode end is worth 0; "
        "default: the task's absorbing flag.",
    )
    reward_scale_momentum: float | None = Field(
        None, gt=0.0, lt=1.0, description="EMA weight of the reward scale's statistics; null = exact running RMS."
    )
    reward_per_rollout: bool = Field(
        True,
        description="On-policy agents (PPO): score each rollout in one batched reward call at its end "
        "instead of one call per env step (same rewards, less overhead); off-policy agents score per step, "
        "except a reward of rendered frames (zero_shot + clip), scored per train_freq chunk.",
    )


class QueryConfig(_Stage):
    """Which feedback form is asked, and about which items."""

    kind: str = Field(
        "pairwise",
        description="Feedback form (`judgerl.forms`): pairwise (which of two segments is better), pointwise "
        "(a score for one segment), episode (a verdict on a whole episode), caption_pairs (which of two "
        "one-step captions, e.g. game messages, shows more progress; Motif).",
    )
    sampler: Literal["random", "disagreement"] = Field(
        "random", description="random items, or the ones the reward model's members disagree on most (active)."
    )
    candidate_factor: int = Field(4, ge=1, le=100, description="Disagreement sampler: candidates drawn per query kept.")
    empty_pair_share: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="caption_pairs: share of pairs showing one empty message beside a non-empty one (Motif keeps "
        "some, so the reward model learns where 'nothing happened' ranks); pairs of two empty messages never occur.",
    )


class LabelConfig(_Stage):
    """③ How many labels to buy, and when."""

    total: int = Field(200, ge=1, description="Total labels bought over the whole run (the label budget).")
    initial_fraction: float = Field(
        0.25, gt=0.0, le=1.0, description="Share of the budget bought in the first iteration (before any training)."
    )
    schedule: Literal["constant", "hyperbolic"] = Field(
        "hyperbolic", description="How the rest is spread: evenly, or front-loaded like imitation's schedule."
    )
    store: str = Field("labels.sqlite", description="Label store path, relative to the run directory or absolute.")
    in_flight_lost: Literal["skip", "reask"] = Field(
        "skip",
        description="A paid judge's answer lost because its request was in flight when the run (kill -9) or its "
        "judge worker died: skip: the query gets a failed label counted as one request, so a crash never makes "
        "the run pay more requests than its budget; reask: it is asked (and paid) again. Chat judges in the "
        "training process only (labels.online_judge_process: thread).",
    )
    fsync: bool = Field(
        True,
        description="fsync the store at each label (survives power loss); false: survives crashes only, faster.",
    )
    mode: Literal["blocking", "online"] = Field(
        "blocking",
        description="blocking: collect, judge everything, fit, then train (each iteration); online: the judge "
        "labels the agent's own rollouts in a background thread while it trains, the reward model is refitted "
        "in the background and swapped in at rollout boundaries (ONI; decision 0027).",
    )
    online_queue: int = Field(64, ge=1, description="Online mode: queries waiting for the judge, at most.")
    online_queue_policy: Literal["drop_new", "drop_old"] = Field(
        "drop_new",
        description="Online mode, full queue: drop the new queries (drop_new) or the oldest queued ones (drop_old); "
        "counted as labels/dropped.",
    )
    online_queries_per_rollout: int = Field(
        4, ge=1, description="Online mode: queries built from each rollout's finished episodes (and fragments)."
    )
    online_fragment_steps: int = Field(
        500,
        ge=0,
        description="Online mode: an episode still running after this many recorded steps is cut into a fragment "
        "(an unfinished piece) at the next rollout end, so long episodes (NetHack) feed the judge as they run; "
        "0: only finished episodes.",
    )
    online_judge_process: Literal["thread", "process"] = Field(
        "thread",
        description="Online mode: where the judge computes. thread: in the training process; process: in a "
        "process of its own (the model is loaded there once more; for judges that compute in Python, e.g. "
        "embedding, gguf, clip, on a machine with a core to spare; decision 0035).",
    )
    online_fit_process: Literal["thread", "process"] = Field(
        "thread",
        description="Online mode: where the background refits compute. thread: in the training process; process: "
        "in a process of its own, so a fit does not hold the interpreter lock between the agent's steps (a "
        "fast agent, e.g. PPO on CartPole, on a machine with a core to spare; the reward model must pickle; "
        "decision 0038).",
    )
    online_batch: int = Field(4, ge=1, description="Online mode: queries sent to the judge per call.")
    online_refit_every: int = Field(
        8, ge=1, description="Online mode: new usable labels that trigger a background refit of the reward model."
    )
    online_drain_s: float = Field(
        30.0, ge=0.0, description="Online mode, end of training: seconds to wait for the judge's batch in flight."
    )


class AgentConfig(_Stage):
    """⑤ The RL agent (Stable-Baselines3)."""

    algo: Literal["auto", "PPO", "SAC", "DQN"] = Field("auto", description="auto = the task's default algorithm.")
    total_timesteps: int = Field(20_000, ge=1, description="Env steps for agent training, summed over iterations.")
    hyperparams: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides for the SB3 constructor (on top of judgerl's tuned defaults); the policy's "
        "arguments go in agent.policy_kwargs.",
    )
    policy: Literal["auto", "MlpPolicy", "CnnPolicy", "MultiInputPolicy"] = Field(
        "auto", description="SB3 policy class; auto = MultiInputPolicy for Dict observations, else MlpPolicy."
    )
    policy_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Policy arguments, merged over the task's tuned ones; a class or activation named by "
        "import path 'module:Name' (e.g. features_extractor_class: judgerl.envs.homegrid_policy:HomegridCNN).",
    )
    init: str | None = Field(
        None,
        description="Start from this saved agent (an SB3 .zip, e.g. another run's agent.zip) instead of fresh "
        "weights; it also collects the first iteration's episodes. Hyperparameters from agent.hyperparams "
        "replace the saved ones.",
    )
    device: str = Field("cpu", description="torch device for the agent.")
    checkpoint_every_s: float = Field(
        600.0,
        ge=0,
        description="Also save agent.zip inside an iteration's training (and the fresh agent and baselines "
        "inside theirs), at the first rollout start this many seconds after the last save, so a crash loses at "
        "most about this much training (longer after a slow save: the saves take at most 2% of the time); "
        "0 = save only when a training ends (a resumed run then equals an uninterrupted one bit for bit).",
    )


class EvalConfig(_Stage):
    """⑥ Ground-truth evaluation."""

    episodes: int = Field(20, ge=1, description="Evaluation episodes per policy.")
    fresh_agent: bool = Field(
        True, description="Also train a fresh agent from scratch on the final reward model and evaluate it."
    )
    fresh_timesteps: int | None = Field(
        None,
        ge=1,
        description="Steps for the fresh agent and the true-reward baseline, rounded down to whole "
        "collection rounds (PPO: n_steps x n_envs); default agent.total_timesteps.",
    )
    true_reward_baseline: bool = Field(
        False,
        description="Also train the same algorithm on the true reward (tuned defaults, without the "
        "learned-reward adjustments of judgerl/agents/sb3.py); normalised scores use it.",
    )
    same_hyperparams_baseline: bool = Field(
        False,
        description="Also train a true-reward agent with exactly the learned-reward agent's hyperparameters "
        "(eval/true_reward_same_hp/..., and eval/fresh/normalized_score_same_hp against it).",
    )
    per_iteration: bool = Field(
        True, description="Evaluate the co-trained agent after every iteration (false: only at the end)."
    )
    deterministic: bool = Field(
        True, description="Greedy actions in evaluation (false: actions sampled from the policy, as seed 003)."
    )
    replay_screens: int = Field(
        12,
        ge=0,
        description="Tasks whose env renders text (NetHack): screens of one final-agent episode shown in the "
        "report (media/replay.json), evenly spaced, the last included; 0 = off.",
    )
    gif_frames: int = Field(
        100,
        ge=0,
        description="Frames of the report's agent GIFs (media/agent_start.gif after the first iteration, "
        "media/agent_end.gif at the end): one episode, evenly spaced frames; 0 = no GIFs.",
    )
    gif_width: int = Field(160, ge=16, description="Width in pixels of the agent GIFs' frames.")
    landscape_grid: int = Field(
        41,
        ge=0,
        description="Points per axis of the reward landscape (landscape.json: final reward and true reward on a "
        "grid of low-dimensional states; Pendulum, CartPole, MountainCar); 0 = off.",
    )
    curve_every: int | None = Field(
        None,
        ge=0,
        description="Learning curve: every this many training env steps, evaluate the current policy on the true "
        "reward (greedy, own env and seed 30000 + seed; eval/curve_*, stage curve); 0 or null = off.",
    )
    curve_episodes: int = Field(3, ge=1, description="Learning curve: episodes per curve point.")
    curve_random_return: float | None = Field(
        None, description="Learning curve: a random policy's return, for eval/curve_normalized (with the next)."
    )
    curve_expert_return: float | None = Field(
        None,
        description="Learning curve: a true-reward agent's return; with curve_random_return the curve also logs "
        "eval/curve_normalized = (return - random) / (expert - random).",
    )
    audit_top: int | None = Field(
        None,
        ge=0,
        description="Reward audit: captions kept in reward_audit.json, ranked by the learned reward the final agent "
        "collected on them over eval.episodes episodes; 0 = off; null = 20 for caption-judged runs "
        "(query.kind caption_pairs or reward.model caption_preference), else off.",
    )


NO_LABELS = ("none", "zero_shot")
"""Reward models that need no labels: the loop collects, asks and fits nothing for them."""


_RUN_NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
"""A run name: simple path components under runs_dir (checked for '.' and '..' separately)."""


class RunConfig(_Stage):
    """A whole run: every stage's config plus run-level settings."""

    name: str = Field(
        "demo",
        description="Run name; the run directory is <runs_dir>/<name>. Letters, digits, '-', '_' and '.', "
        "optionally in '/'-separated sub-folders; never '..' or an absolute path.",
    )
    runs_dir: str = Field("runs", description="Parent folder of run directories.")
    seed: int = Field(0, ge=0, description="Master seed for envs, sampling, judges and networks.")
    threads: int = Field(
        1,
        ge=1,
        le=256,
        description="torch and BLAS CPU threads; 1 is fastest for judgerl's small networks on a shared machine, "
        "and a seed gives the same numbers only at the same count.",
    )
    iterations: int = Field(5, ge=1, le=1000, description="Outer-loop iterations (collect, judge, fit, train).")
    collect_steps: int = Field(
        2_000, ge=1, description="Env steps collected per iteration for segments (counted in the step budget)."
    )
    collect_noise: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.0],
        min_length=1,
        description="e-greedy noise levels of the collection policy after iteration 0 (D-REX style): collection "
        "env i runs at level i mod len, each action random with probability e, so the judge also sees degraded "
        "behaviour and its failures; 4 levels share the collection steps evenly over 4 collection envs. [0.0] "
        "collects with the plain policy.",
    )
    collect_episodes: int | None = Field(
        None,
        ge=1,
        description="Collect this many complete episodes per iteration instead of collect_steps steps "
        "(episode verdicts need whole episodes); the steps spent are counted all the same.",
    )
    task: TaskConfig = Field(default_factory=TaskConfig)  # type: ignore[arg-type]
    env: EnvConfig = Field(default_factory=EnvConfig)  # type: ignore[arg-type]
    query: QueryConfig = Field(default_factory=QueryConfig)  # type: ignore[arg-type]
    judge: JudgeConfig = Field(default_factory=JudgeConfig)  # type: ignore[arg-type]
    labels: LabelConfig = Field(default_factory=LabelConfig)  # type: ignore[arg-type]
    reward: RewardConfig = Field(default_factory=RewardConfig)  # type: ignore[arg-type]
    agent: AgentConfig = Field(default_factory=AgentConfig)  # type: ignore[arg-type]
    eval: EvalConfig = Field(default_factory=EvalConfig)  # type: ignore[arg-type]

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        # The name becomes a path under runs_dir: '..', an absolute path or odd characters would
        # write (and lock, and resume) somewhere else.
        parts = name.split("/")
        if not _RUN_NAME.fullmatch(name) or any(p in (".", "..") for p in parts):
            raise ValueError(
                f"run name {name!r} must be letters, digits, '-', '_' or '.', optionally in '/'-separated "
                "sub-folders, with no '..' and not an absolute path (e.g. cartpole-s1 or sweep/flip10-s1)"
            )
        return name

    @model_validator(mode="after")
    def _check_budget(self) -> RunConfig:
        if self.reward.model in NO_LABELS:
            return self
        if self.labels.total < self.iterations:
            raise ValueError(
                f"labels.total ({self.labels.total}) is smaller than iterations ({self.iterations}): "
                "raise labels.total or lower iterations"
            )
        return self

    @property
    def run_dir(self) -> Path:
        """The run directory, ``<runs_dir>/<name>``."""
        return Path(self.runs_dir) / self.name

    @property
    def store_path(self) -> Path:
        """The label store's file: ``labels.store`` relative to the run directory, or absolute."""
        p = Path(self.labels.store)
        return p if p.is_absolute() else self.run_dir / p


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Load, merge and validate a run configuration.

    Args:
        path: YAML file, or ``None`` for the built-in defaults.
        overrides: ``key=value`` strings applied on top (dotted keys).

    Returns:
        The validated config.

    Raises:
        ConfigError: With one line per problem, naming the field and the fix.
    """
    return load_model(RunConfig, path, overrides)


def validate_references(cfg: RunConfig) -> None:
    """Check what the schema cannot (task, form, reward model, agent, paths...); see ``judgerl.config_checks``.

    Raises:
        ConfigError: Naming the field and the fix.
    """
    from judgerl.config_checks import check_references

    check_references(cfg)
