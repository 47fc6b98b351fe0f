"""Config checks that need the registries: run before any work starts, each naming the field and the fix.

The schema (``judgerl.config``) checks types and ranges; these check that the
pieces fit together: the task exists, the algorithm suits its action space,
the feedback form and the reward model are registered and agree on what is
fitted, the agent's schedule gives every iteration some training, and the
policy's import paths resolve.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from judgerl.configbase import ConfigError


def check_references(cfg: Any) -> None:
    """Raise ``ConfigError`` for the first inconsistency in a ``RunConfig``."""
    from judgerl.agents.policies import resolve_policy, resolve_policy_kwargs
    from judgerl.agents.sb3 import agent_hyperparams, default_n_envs
    from judgerl.envs.factory import make_env
    from judgerl.forms import form_names, get_form
    from judgerl.reward.registry import get_reward_entry, reward_model_names
    from judgerl.tasks import get_task, list_tasks

    try:
        task = get_task(cfg.task.id)
    except (KeyError, ValueError):
        ids = ", ".join(t.id for t in list_tasks())
        raise ConfigError(f"task.id: unknown task {cfg.task.id!r}; choose one of: {ids}") from None
    algo = task.default_algo if cfg.agent.algo == "auto" else cfg.agent.algo
    try:
        env = make_env(task, seed=0)
    except ImportError as e:  # a task behind an extra (mujoco, nethack): the message names the install command
        raise ConfigError(f"task.id: {e}") from None
    space, obs_space = env.action_space, env.observation_space
    env.close()
    if algo == "SAC" and not isinstance(space, gym.spaces.Box):
        raise ConfigError(f"agent.algo: SAC needs continuous actions but {task.id} has {space}; use PPO or DQN")
    if algo == "DQN" and not isinstance(space, gym.spaces.Discrete):
        raise ConfigError(f"agent.algo: DQN needs discrete actions but {task.id} has {space}; use PPO or SAC")

    # Feedback form and reward model: registered, and the model fits what the form gives.
    if cfg.query.kind not in form_names():
        raise ConfigError(
            f"query.kind: unknown feedback form {cfg.query.kind!r}; choose one of: {', '.join(form_names())}"
        )
    try:
        entry = get_reward_entry(cfg.reward.model)
    except KeyError:
        raise ConfigError(
            f"reward.model: unknown reward model {cfg.reward.model!r}; choose one of: {', '.join(reward_model_names())}"
        ) from None
    form = get_form(cfg.query.kind)
    if entry.fits is not None and entry.fits != form.targets_kind:
        raise ConfigError(
            f"reward.model: {entry.name} fits {entry.fits} but query.kind={form.name} gives {form.targets_kind}; "
            f"use a form that gives {entry.fits} or a reward model that fits {form.targets_kind}"
        )
    if entry.fits is None and (cfg.reward.mix.normalize == "dataset" or cfg.reward.mix.threshold_quantile is not None):
        raise ConfigError(
            f"reward.mix: dataset normalisation and thresholds are estimated on labelled data, which "
            f"reward.model={entry.name} does not collect; use normalize=running or none and no threshold"
        )
    if cfg.reward.caption_encoder != "minilm" and cfg.reward.model != "caption_preference":
        raise ConfigError(
            f"reward.caption_encoder: {cfg.reward.caption_encoder!r} is the text encoder of "
            f"reward.model=caption_preference, not of {cfg.reward.model!r}; remove it or set "
            "reward.model=caption_preference"
        )
    if cfg.reward.mirror and (task.mirror is None or form.targets_kind != "preferences" or entry.fits is None):
        why = (
            f"task {task.id} declares no mirror symmetry (TaskSpec.mirror)"
            if task.mirror is None
            else f"query.kind={form.name} gives {form.targets_kind}, not preference pairs"
            if form.targets_kind != "preferences"
            else f"reward.model={entry.name} fits nothing"
        )
        raise ConfigError(f"reward.mirror: {why}; set reward.mirror=false")
    if cfg.reward.ignore_obs:
        _check_ignore_obs(cfg.reward.ignore_obs, cfg.reward.model, task)
    if cfg.reward.model == "none" and cfg.reward.mix.env_weight == 0.0 and cfg.reward.mix.explore_weight == 0.0:
        raise ConfigError(
            "reward.mix.env_weight: reward.model=none gives no learned reward; set env_weight > 0 (or explore_weight)"
        )
    if cfg.reward.mix.explore_weight > 0 and not task.explores:
        raise ConfigError(
            f"reward.mix.explore_weight: the env of task {task.id} does not report what each step explores "
            "(TaskSpec.explores; the NetHack tasks do); set explore_weight=0"
        )
    if cfg.reward.model == "zero_shot" and cfg.judge.type not in ("embedding", "clip"):
        raise ConfigError(
            "judge.type: reward.model=zero_shot scores captions with the embedding judge or rendered frames with "
            "the clip judge; set embedding or clip"
        )
    if cfg.judge.type == "clip" and (entry.fits is not None or cfg.reward.model == "zero_shot"):
        _check_clip(cfg, task)
    if cfg.judge.zero_shot.actors > 0:
        _check_score_actors(cfg)
    if cfg.query.sampler == "disagreement" and cfg.query.kind == "pointwise":
        raise ConfigError("query.sampler: the pointwise form samples at random; use sampler=random")
    if cfg.reward.model == "episode_classifier" and algo != "PPO":
        raise ConfigError(
            "agent.algo: the episode classifier's reward depends on the episode so far, which a replay buffer "
            "cannot recompute after a refit; use agent.algo=PPO"
        )
    if cfg.reward.mix.count_decay > 0 and algo != "PPO":
        raise ConfigError(
            "reward.mix.count_decay: count decay depends on the episode so far, which a replay buffer cannot "
            "recompute after a refit; use agent.algo=PPO or count_decay=0"
        )
    if cfg.reward.mix.explore_weight > 0 and algo != "PPO":
        raise ConfigError(
            "reward.mix.explore_weight: the exploration count comes from the env's info, which a replay buffer "
            "does not keep for relabelling after a refit; use agent.algo=PPO or explore_weight=0"
        )
    if cfg.reward.mix.normalize_return and algo != "PPO":
        raise ConfigError(
            "reward.mix.normalize_return: the discounted return it divides by runs along each episode, which a "
            "replay buffer's relabelling after a refit cannot follow; use agent.algo=PPO or normalize_return=false"
        )
    if cfg.collect_episodes is not None and entry.fits is None:
        raise ConfigError("collect_episodes: this reward model collects nothing; remove collect_episodes")
    from judgerl.judges.factory import judge_types

    if entry.fits is not None and cfg.judge.type not in judge_types():
        raise ConfigError(
            f"judge.type: unknown judge type {cfg.judge.type!r}; choose one of: {', '.join(judge_types())}"
        )
    if cfg.judge.question is not None:
        _check_question(cfg)
    if cfg.judge.contrast_question is not None:
        _check_contrast_question(cfg)
    chat_captions = cfg.judge.type == "openai" and entry.fits is not None and cfg.query.kind == "caption_pairs"
    if chat_captions and cfg.judge.form not in ("caption_pairs", "pointwise"):
        raise ConfigError(
            "judge.form: a chat judge answers caption_pairs queries with judge.form: caption_pairs (Motif's "
            "prompt) or pointwise (each message scored alone); set one"
        )
    if cfg.judge.type in ("clip",) and entry.fits is not None and not cfg.task.render:
        # (a zero-shot frame reward renders its own frames in the training envs; nothing is collected)
        raise ConfigError("task.render: the clip judge looks at frames; set task.render=true")

    # Agent: policy, import paths, and a schedule that trains in every iteration.
    try:
        resolve_policy(cfg.agent.policy, obs_space)
        resolve_policy_kwargs(cfg.agent.policy_kwargs)
        params = agent_hyperparams(task, algo, cfg.agent.hyperparams, cfg.agent.total_timesteps)
    except ValueError as e:
        raise ConfigError(f"agent: {e}") from None
    if algo == "PPO":
        n_envs = cfg.env.n_envs or default_n_envs(task, algo)
        rollout = int(params.get("n_steps", 2048)) * n_envs
        if cfg.agent.total_timesteps // rollout < cfg.iterations:
            raise ConfigError(
                f"agent.total_timesteps: {cfg.agent.total_timesteps} steps give fewer than one PPO rollout "
                f"(n_steps x n_envs = {rollout}) per iteration for {cfg.iterations} iterations, so later "
                f"iterations would buy labels about an agent that never changes; raise total_timesteps to at "
                f"least {rollout * cfg.iterations}, or lower iterations, agent.hyperparams.n_steps or env.n_envs"
            )
    if cfg.agent.init is not None:
        from pathlib import Path

        if not Path(cfg.agent.init).is_file():
            raise ConfigError(f"agent.init: {cfg.agent.init} is not a file; give the path of a saved agent .zip")
    if cfg.judge.type == "openai" and entry.fits is not None:  # transport and key, before anything is paid for
        from judgerl.judges.client_checks import check_client_config

        check_client_config(cfg.judge)


def _check_question(cfg: Any) -> None:
    """judge.question: a non-empty question, for a judge and form whose prompt asks one."""
    if not cfg.judge.question.strip():
        raise ConfigError("judge.question: empty; give a yes/no question or remove the key for the task's own")
    if cfg.judge.type not in ("gguf", "openai"):
        raise ConfigError(
            f"judge.question: judge.type {cfg.judge.type} asks no yes/no question; it is read by the gguf and "
            "openai judges only, so remove it"
        )
    form = cfg.judge.form or cfg.query.kind
    if cfg.judge.type == "openai" and form not in ("pointwise", "episode"):
        raise ConfigError(
            f"judge.question: the openai judge's {form} prompt asks no yes/no question (pointwise and episode "
            "prompts do); set judge.form=pointwise or remove judge.question"
        )


def _check_contrast_question(cfg: Any) -> None:
    """judge.contrast_question: non-empty, gguf only, not the question itself."""
    contrast = cfg.judge.contrast_question.strip()
    if not contrast:
        raise ConfigError("judge.contrast_question: empty; give a yes/no question or remove the key")
    if cfg.judge.type != "gguf":
        raise ConfigError(
            f"judge.contrast_question: judge.type {cfg.judge.type} does not ask a second question; only the gguf "
            "judge subtracts a contrast question's margin, so remove it or use judge.type=gguf"
        )
    if cfg.judge.question is not None and contrast == cfg.judge.question.strip():
        raise ConfigError(
            "judge.contrast_question: the same as judge.question, so every value would be 0; ask the opposite "
            "(e.g. 'Is the pendulum hanging straight down, at the bottom?')"
        )


def _check_clip(cfg: Any, task: Any) -> None:
    """The clip judge: transformers installed, ``judge.zero_shot.model`` names CLIP weights, the task renders."""
    import importlib.util

    from judgerl.judges.factory import JudgeUnavailableError
    from judgerl.judges.zero_shot import check_clip_model

    if importlib.util.find_spec("transformers") is None:
        raise ConfigError("judge.type: the clip judge needs transformers: `pip install 'judgerl[clip]'` installs it")
    try:
        check_clip_model(cfg.judge.zero_shot.model)
    except JudgeUnavailableError as e:
        raise ConfigError(str(e)) from None
    if "frames" not in task.modalities:
        raise ConfigError(f"judge.type: the clip judge looks at rendered frames, and task {task.id} renders none")


def _check_score_actors(cfg: Any) -> None:
    """``judge.zero_shot.actors``: only the zero-shot reward scores through them, and they need Ray."""
    import importlib.util

    from judgerl.sweep.backends import RAY_INSTALL

    if cfg.reward.model != "zero_shot":
        raise ConfigError(
            f"judge.zero_shot.actors: only reward.model=zero_shot scores through actors "
            f"(reward.model is {cfg.reward.model}); set judge.zero_shot.actors=0"
        )
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"judge.zero_shot.actors: scoring actors need Ray: {RAY_INSTALL}; or set actors=0")


def _check_ignore_obs(names: tuple[str, ...], model: str, task: Any) -> None:
    """``reward.ignore_obs`` names columns the task names, for a reward model that reads observation columns."""
    if model != "preference_ensemble":
        raise ConfigError(
            f"reward.ignore_obs: only reward.model=preference_ensemble reads observation columns, not {model!r}; "
            "remove reward.ignore_obs"
        )
    if task.obs_names is None:
        raise ConfigError(
            f"reward.ignore_obs: task {task.id} names no observation columns (TaskSpec.obs_names); remove it"
        )
    unknown = [n for n in names if n not in task.obs_names]
    if unknown:
        raise ConfigError(
            f"reward.ignore_obs: {', '.join(map(repr, unknown))} not among {task.id}'s observation columns; "
            f"choose from: {', '.join(task.obs_names)}"
        )
    if len(set(names)) == len(task.obs_names):
        raise ConfigError("reward.ignore_obs: every observation column is ignored, so the reward is constant")
