"""``StudyConfig``: every setting of ``judgerl study homegrid-values`` (seed 003's experiment).

The study is a recipe of two runs of the main loop (``judgerl.study.homegrid_values``);
this config is the study's vocabulary, and ``naive_run`` / ``feedback_run``
turn it into their ``RunConfig``s. Loaded like a run config: YAML, then
``--set key=value`` overrides, validated by pydantic with ``extra="forbid"``
and reported with ``judgerl.config``'s error formatting, so a typo names the
field and the fix before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from judgerl.config import JudgeConfig, OracleNoiseConfig, _Stage, dump_config, load_model

# Seed 003's measured GPT-4o-mini errors, as rates over all 10,000 episodes:
# 188 harmed-cat episodes called aligned, 12 safe ones called not aligned.
SEED_FALSE_ALIGNED = 0.0188
SEED_FALSE_NOT_ALIGNED = 0.0012


def _seed_noise_judge() -> JudgeConfig:
    noise = OracleNoiseConfig.model_validate(
        {"false_positive_rate": SEED_FALSE_ALIGNED, "false_negative_rate": SEED_FALSE_NOT_ALIGNED}
    )
    return JudgeConfig.model_validate({"type": "oracle", "oracle": noise})


class NaiveConfig(_Stage):
    """① The naive policy: PPO on the task reward only (reach the fruit fast)."""

    timesteps: int = Field(300_000, ge=1, description="Env steps of PPO training.")
    n_envs: int = Field(16, ge=1, le=256, description="Parallel envs of the batched homegrid VecEnv.")
    cnn: bool = Field(True, description="Grid CNN features (tuned) instead of an MLP on the flattened grid.")


class SampleConfig(_Stage):
    """② Episodes sampled from the naive policy for the judge (the feedback run's collection)."""

    episodes: int = Field(10_000, ge=10, description="Episodes sampled from the naive policy (the labelling pool).")
    frames: bool = Field(
        False, description="Render frames into the stored episodes (vision judges); captions are always stored."
    )
    frame_size: int = Field(64, ge=16, le=448, description="Longer side of stored frames in pixels.")


class LabelBudgetConfig(_Stage):
    """③ How many verdicts the judge is asked for."""

    budget: int | None = Field(
        None, ge=1, description="Training verdicts bought; None = every sampled episode not held out for testing."
    )
    test_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Held-out verdicts bought on top of the budget, as a share of it (None budget: of the pool), "
        "never trained on: the classifier's reported accuracy.",
    )
    max_test: int = Field(1000, ge=0, description="Most held-out test episodes (their verdicts count as calls).")
    preflight: int = Field(
        64,
        ge=0,
        description="Probe episodes of the naive policy judged first against ground truth (model judges; "
        "0 = no preflight); a judge that fails (e.g. ranks harm inverted) stops the study.",
    )
    force: bool = Field(False, description="Continue even when the judge fails its preflight.")


class ClassifierConfig(_Stage):
    """④ The episode classifier (per-step CNN → GRU) fitted on the verdicts."""

    hidden: int = Field(32, ge=4, description="Width of the step embedding and GRU state.")
    channels: int = Field(8, ge=1, description="Convolution width.")
    members: int = Field(1, ge=1, le=16, description="Ensemble members used as the reward.")
    epochs: int = Field(15, ge=1, description="Most epochs per fit (early stopping on validation loss).")
    batch_size: int = Field(64, ge=1, description="Episodes per gradient step.")
    lr: float = Field(2e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, description="Adam weight decay.")
    val_fraction: float = Field(
        0.15, ge=0.0, lt=1.0, description="Share of the training verdicts held out for early stopping."
    )
    patience: int = Field(3, ge=1, description="Epochs without validation improvement before stopping.")


class FeedbackConfig(_Stage):
    """⑤ The feedback agent: task reward + weight × classifier term."""

    weight: float = Field(2.0, ge=0.0, description="Weight w of the classifier term (task reward is at most 1).")
    mode: Literal["shaping", "episode_end"] = Field(
        "shaping",
        description="shaping: w·(P_t − P_{t−1}) from the classifier on each prefix (sums to w·(P_T − P_0)); "
        "episode_end: w·(P_T − 1) on the last step.",
    )
    timesteps: int = Field(
        200_000,
        ge=1,
        description="Env steps of PPO fine-tuning, from the naive policy's weights, for the feedback agent.",
    )
    n_envs: int = Field(16, ge=1, le=256, description="Parallel envs.")
    ent_coef: float = Field(0.02, ge=0.0, description="PPO entropy bonus (re-opens exploration when fine-tuning).")


class StudyEvalConfig(_Stage):
    """⑥ Ground-truth evaluation and media."""

    episodes: int = Field(10_000, ge=1, description="Evaluation episodes per policy (batched env, sampled actions).")
    deterministic: bool = Field(False, description="Greedy actions in evaluation (seed 003 sampled them).")
    gif_episodes: int = Field(
        3,
        ge=0,
        le=20,
        description="Episodes rendered into each policy's GIF (0 = none, and no agent GIFs in the loop runs' "
        "reports either).",
    )
    gif_tile: int = Field(16, ge=8, le=32, description="Pixels per tile in the GIFs.")


class StudyPriceConfig(_Stage):
    """Projected API cost of the verdicts (default: gpt-4o-mini with batch pricing)."""

    model: str = Field("gpt-4o-mini (batch)", description="Name shown in the table.")
    input_per_mtok: float = Field(0.075, ge=0.0, description="USD per 1M prompt tokens.")
    output_per_mtok: float = Field(0.30, ge=0.0, description="USD per 1M completion tokens.")
    frames: Literal["all", "keyframes"] = Field(
        "keyframes", description="Frames sent per verdict: every step's frame (seed 003) or judge.keyframes of them."
    )
    image_width: int = Field(448, ge=16, description="Frame width sent (seed 003: 448).")
    image_height: int = Field(384, ge=16, description="Frame height sent (seed 003: 384).")
    image_detail: Literal["low", "high", "auto"] = Field("low", description="OpenAI image detail level.")
    text_tokens: int = Field(250, ge=0, description="Prompt text tokens per verdict (the three-question prompt).")
    output_tokens: int = Field(250, ge=0, description="Completion tokens per verdict (JSON with reasoning).")
    seed_usd_per_10k: float = Field(20.0, ge=0.0, description="What seed 003 paid for 10,000 verdicts, for comparison.")


class StudyConfig(_Stage):
    """``judgerl study homegrid-values``: naive policy → verdicts → classifier → feedback policy → table."""

    name: str = Field("study", description="Run name; the run directory is <runs_dir>/<name>.")
    runs_dir: str = Field("runs", description="Parent folder of run directories.")
    seed: int = Field(0, ge=0, description="Master seed (policies, sampling, judge noise, classifier).")
    threads: int = Field(1, ge=1, le=64, description="torch CPU threads.")
    judge: JudgeConfig = Field(default_factory=_seed_noise_judge, description="Who gives the episode verdicts.")
    naive: NaiveConfig = Field(default_factory=NaiveConfig)  # type: ignore[arg-type]
    sample: SampleConfig = Field(default_factory=SampleConfig)  # type: ignore[arg-type]
    labels: LabelBudgetConfig = Field(default_factory=LabelBudgetConfig)  # type: ignore[arg-type]
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)  # type: ignore[arg-type]
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)  # type: ignore[arg-type]
    eval: StudyEvalConfig = Field(default_factory=StudyEvalConfig)  # type: ignore[arg-type]
    price: StudyPriceConfig = Field(default_factory=StudyPriceConfig)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _check(self) -> StudyConfig:
        if self.judge.type in ("scripted",):
            raise ValueError("judge.type: the scripted judge answers pairs only; use oracle, gguf, embedding or openai")
        if self.judge.type == "clip" and not self.sample.frames:
            raise ValueError("judge.type: the clip judge looks at frames; set sample.frames=true")
        return self

    @property
    def run_dir(self) -> Path:
        """The study directory, ``<runs_dir>/<name>``, holding the ``naive`` and ``feedback`` run directories."""
        return Path(self.runs_dir) / self.name

    def label_counts(self) -> tuple[int, int]:
        """``(verdicts bought in all, held out of them)``.

        With a budget: the budget plus ``test_fraction`` of it held out; without
        one: every sampled episode, ``test_fraction`` of them held out.
        """
        basis = self.labels.budget if self.labels.budget is not None else self.sample.episodes
        test = min(self.labels.max_test, int(round(self.labels.test_fraction * basis)))
        total = basis + test if self.labels.budget is not None else basis
        return total, test


def load_study_config(path: str | Path | None = None, overrides: list[str] | None = None) -> StudyConfig:
    """Load, merge and validate a study configuration (arguments and errors as ``judgerl.config.load_config``)."""
    return load_model(StudyConfig, path, overrides)


def dump_study_config(cfg: StudyConfig) -> str:
    """The resolved config as YAML (every field, defaults included)."""
    return dump_config(cfg)
