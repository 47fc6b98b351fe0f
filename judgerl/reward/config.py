"""④ Reward configuration: the model, its training, the episode classifier, and reward mixing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from judgerl.configbase import _Stage


class ClassifierConfig(_Stage):
    """The episode classifier (per-step CNN or MLP, then a GRU), for reward.model=episode_classifier."""

    hidden: int = Field(32, ge=4, description="Width of the step embedding and GRU state.")
    channels: int = Field(8, ge=1, description="Convolution width (grid observations).")
    early_stop_fraction: float = Field(
        0.15,
        ge=0.0,
        lt=1.0,
        description="Share of the training verdicts each member holds out for early stopping (the reported "
        "validation accuracy uses reward.val_fraction of all verdicts, never trained on).",
    )
    mode: Literal["shaping", "episode_end"] = Field(
        "shaping",
        description="shaping: learned reward P_t - P_(t-1) from the classifier on each prefix (sums to P_T - P_0); "
        "episode_end: P_T - 1 on the last step.",
    )


class MixConfig(_Stage):
    """How the agent's reward is made: r = a*r_env + b*g(r_hat) + c*explored, g = normalise, threshold, decay."""

    env_weight: float = Field(0.0, description="a: weight of the environment's own reward (0 = learned reward only).")
    learned_weight: float = Field(1.0, ge=0.0, description="b: weight of the transformed learned reward.")
    normalize: Literal["none", "running", "dataset"] = Field(
        "running",
        description="running: divide r_hat by its running root mean square (scale only, no shift); dataset: "
        "z-score with the mean and std of r_hat over the labelled data at each fit (Motif); none.",
    )
    threshold_quantile: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="Zero the (normalised) learned reward below this quantile of its values over the labelled "
        "data, recomputed at each fit (Motif's epsilon); null = no threshold.",
    )
    count_decay: float = Field(
        0.0,
        ge=0.0,
        description="beta: divide the learned term by N(key)^beta, N = times the key was seen so far in the "
        "episode (Motif: 3 on messages); 0 = off. On-policy agents only.",
    )
    count_key: Literal["caption", "obs"] = Field(
        "caption", description="What count decay counts: the step's caption (task captioner), or the observation."
    )
    explore_weight: float = Field(
        0.0,
        ge=0.0,
        description="c: add c times the step's exploration count, the cells of the level it saw for the first "
        "time (tasks whose env reports it: NetHack; NLE's scout measure). 0 = off. On-policy agents only.",
    )
    normalize_return: bool = Field(
        False,
        description="Divide the agent's reward r by the running standard deviation of its discounted return "
        "(per env, with the agent's gamma) and clip it to +-return_clip, as SB3's VecNormalize(norm_reward=True) "
        "and cleanrl's NormalizeReward do, so the value targets keep about unit scale whatever r's scale. "
        "Applied last, after every term; its statistics are saved with the agent (resume is exact). "
        "On-policy agents only.",
    )
    return_clip: float = Field(
        10.0, gt=0.0, description="With normalize_return: clip the normalised reward to +-this (SB3's default)."
    )

    @model_validator(mode="after")
    def _some_reward(self) -> MixConfig:
        if self.env_weight == 0.0 and self.learned_weight == 0.0 and self.explore_weight == 0.0:
            raise ValueError("env_weight, learned_weight and explore_weight are all 0: the agent would get no reward")
        return self


class RewardConfig(_Stage):
    """④ The reward model, how it is fitted, and how it is mixed with the env reward."""

    model: str = Field(
        "preference_ensemble",
        description="Reward model from the registry (`judgerl.reward.registry`): preference_ensemble (MLP "
        "ensemble, Bradley-Terry on preferences), episode_classifier (GRU over episodes, fitted on verdicts), "
        "caption_preference (MiniLM embedding of each step's caption + MLP head, Bradley-Terry with ties; Motif), "
        "zero_shot (the embedding judge's caption score used directly, nothing to fit), none (env reward only).",
    )
    ensemble_size: int = Field(3, ge=1, le=32, description="Ensemble members (mean = reward, std = disagreement).")
    hidden_sizes: tuple[int, ...] = Field((64, 64), description="MLP hidden layer widths.")
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, description="Adam weight decay (L2).")
    epochs: int = Field(100, ge=1, description="Training epochs per fit (with early stopping on validation).")
    batch_size: int = Field(32, ge=1, description="Labels per gradient step.")
    val_fraction: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Share of targets held out for validation, chosen by a hash so each keeps its side "
        "(episode classifier: its reported accuracy; early stopping uses reward.classifier.early_stop_fraction).",
    )
    warm_start: bool = Field(True, description="Continue from the previous fit's weights each iteration.")
    restandardize: bool = Field(
        True,
        description="With warm_start: refit the input standardisation at every fit on the labelled steps so far, "
        "folding the change into the first layer (the nets' outputs are unchanged); false keeps the first fit's.",
    )
    use_action: bool = Field(
        False,
        description="Give the reward model the action as well as the observation. Off by default: judges see "
        "states (frames, captions), not actions, so an action input only fits spurious correlations "
        "(decision 0012); turn it on for a judge that is shown the actions.",
    )
    mirror: bool = Field(
        False,
        description="Fit the reward model on every labelled pair and its mirror image (the task's left-right "
        "symmetry, TaskSpec.mirror: CartPole, Pendulum), so it cannot learn a side the task does not have; for "
        "judges that favour one side (decision 0042). Pairwise and pointwise forms only.",
    )
    ignore_obs: tuple[str, ...] = Field(
        (),
        description="Observation columns the learned reward must not read, by the task's names for them "
        "(TaskSpec.obs_names; Pendulum: cos_theta, sin_theta, theta_dot): they are zero in its input, so the "
        "reward cannot depend on them. For a judge biased by something the task's reward should not pay for, "
        "e.g. [theta_dot] when a judge favours speed (decision 0045). preference_ensemble only.",
    )
    caption_encoder: Literal["minilm", "ngrams"] = Field(
        "minilm",
        description="caption_preference: the text encoder under the MLP head: minilm (the packaged "
        "all-MiniLM-L6-v2, frozen: it knows English) or ngrams (hashed word unigrams and bigrams, nothing "
        "pretrained: the head learns every n-gram's embedding from the labels alone, Motif's encoder trained "
        "from scratch).",
    )
    clip_to_data: bool = Field(
        True,
        description="Clip each observation feature to the range seen in the labelled segments before predicting "
        "a reward, so the reward is flat, not extrapolated, beyond the states the judge was shown (decision 0017).",
    )
    activation: Literal["relu", "tanh"] = Field("relu", description="MLP hidden activation.")
    label_noise: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Assumed share of random labels in the Bradley-Terry model; set it near the judge's error "
        "rate for noisy judges (0.1 as Christiano et al.), 0 = plain Bradley-Terry.",
    )
    flatness: Annotated[float, Field(ge=0.0)] | Literal["auto"] = Field(
        "auto",
        description="Weight of a flatness prior: the variance of the per-step reward over the labelled live steps "
        "is added to the Bradley-Terry loss, so the reward varies across states only where labels require it "
        "(decision 0028); 0 = off; auto = 10 for tasks whose episodes terminate (absorbing states, e.g. CartPole), "
        "0 otherwise.",
    )
    flatness_support: Literal["labelled", "box"] = Field(
        "box",
        description="States the flatness prior covers: labelled = the live steps of the labelled segments; box = "
        "those plus 256 virtual live steps per minibatch, drawn uniformly from the per-feature range of the "
        "labelled observations, so a slope in states the segments barely cover costs as much as one in the "
        "crowded ones (decision 0036).",
    )
    patience: int = Field(
        10, ge=1, description="Early stopping: epochs without validation-loss improvement before a member stops."
    )
    zero_absorbing: bool = Field(
        True,
        description="Pin the reward of absorbing (post-episode) steps to 0, so ending an episode means to the agent "
        "what it meant in the labelled segments (fixes the reward's otherwise arbitrary offset).",
    )
    bootstrap: bool = Field(
        True, description="Train each ensemble member on its own bootstrap resample of the labels (diversity)."
    )
    threads: int | None = Field(
        1,
        ge=1,
        description="torch CPU threads for fitting and batch scoring (restored after); small MLPs run fastest "
        "on 1, and on a busy CPU more threads were >10x slower. None = leave torch's setting.",
    )
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)  # type: ignore[arg-type]
    mix: MixConfig = Field(default_factory=MixConfig)  # type: ignore[arg-type]


FLATNESS_TERMINATING = 10.0
"""``reward.flatness: auto`` for tasks whose episodes terminate (decision 0028)."""


def resolve_flatness(cfg: RewardConfig, absorbing: bool) -> RewardConfig:
    """``cfg`` with ``flatness: auto`` replaced by its value for a task that does (not) terminate.

    Args:
        cfg: The reward config.
        absorbing: The task pads ended episodes with absorbing states (``TaskSpec.absorbing``).

    Returns:
        ``cfg`` itself when ``flatness`` is a number, else a copy with the number.
    """
    if cfg.flatness != "auto":
        return cfg
    return cfg.model_copy(update={"flatness": FLATNESS_TERMINATING if absorbing else 0.0})
