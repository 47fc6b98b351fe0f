"""``check_task``: a preflight for task specs, like gymnasium's ``check_env``.

It builds the env, steps it with random actions, and calls every callable the
spec carries, so a broken task fails here with a message naming the task and
the problem instead of deep inside a run.
"""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
from gymnasium import spaces

from judgerl.types import EXPLORED_INFO_KEY, Modality, TaskSpec

_ALGOS = {"PPO": (spaces.Box, spaces.Discrete), "SAC": (spaces.Box,), "DQN": (spaces.Discrete,)}


class TaskCheckError(ValueError):
    """A task spec that cannot be used; the message says which check failed."""


def _fail(spec: TaskSpec, msg: str) -> TaskCheckError:
    return TaskCheckError(f"task {spec.id or '<no id>'!r}: {msg}")


def _check_fields(spec: TaskSpec) -> None:
    if not spec.id:
        raise _fail(spec, "id is empty")
    if not spec.instruction.strip():
        raise _fail(spec, "instruction is empty; describe the goal in words")
    bad = [m for m in spec.modalities if m not in get_args(Modality)]
    if bad or not spec.modalities:
        raise _fail(spec, f"modalities must be a non-empty subset of {get_args(Modality)}, got {spec.modalities}")
    if spec.max_episode_steps < 1:
        raise _fail(spec, f"max_episode_steps must be positive, got {spec.max_episode_steps}")
    if not 1 <= spec.segment_length <= spec.max_episode_steps:
        raise _fail(spec, f"segment_length {spec.segment_length} must lie in [1, max_episode_steps]")
    if spec.default_algo not in _ALGOS:
        raise _fail(spec, f"default_algo must be one of {sorted(_ALGOS)}, got {spec.default_algo!r}")
    if spec.oracle_verdict is not None and not spec.question.strip():
        raise _fail(spec, "oracle_verdict is set but question is empty; write the yes/no question it answers")
    if spec.baseline_text.strip() and not spec.goal_text.strip():
        raise _fail(spec, "baseline_text is set but goal_text is empty")
    if not callable(spec.captioner) or not callable(spec.success):
        raise _fail(spec, "captioner and success must be callable")
    if not isinstance(spec.end_caption, str) or not spec.end_caption.strip():
        raise _fail(
            spec, f"end_caption must be a non-empty str (what a judge reads after the end), got {spec.end_caption!r}"
        )


def _check_mirror(spec: TaskSpec, obs: np.ndarray, acts: np.ndarray) -> None:
    """A mirror keeps the shapes of ``obs (T, O)`` and ``acts (T, A)`` and, applied twice, gives them back."""
    assert spec.mirror is not None
    try:
        m_obs, m_acts = (np.asarray(v) for v in spec.mirror(obs, acts))
        back_obs, back_acts = (np.asarray(v) for v in spec.mirror(m_obs, m_acts))
    except Exception as e:
        raise _fail(spec, f"mirror failed on a rollout: {type(e).__name__}: {e}") from e
    if m_obs.shape != obs.shape or m_acts.shape != acts.shape:
        raise _fail(spec, f"mirror changed shapes: {obs.shape}, {acts.shape} -> {m_obs.shape}, {m_acts.shape}")
    if not (np.allclose(back_obs, obs, atol=1e-5) and np.allclose(back_acts, acts, atol=1e-5)):
        raise _fail(spec, "mirror applied twice does not give the observations and actions back")


def _check_explores(spec: TaskSpec, env: Any, seed: int, steps: int = 20) -> None:
    """``explores``: every step's ``info`` holds an exploration count, an integer of at least 0."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(steps):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        x = info.get(EXPLORED_INFO_KEY)
        if not isinstance(x, int | np.integer) or x < 0:
            raise _fail(spec, f"explores is set, but a step's info[{EXPLORED_INFO_KEY!r}] is {x!r}, not an int >= 0")
        if terminated or truncated:
            env.reset()


def check_task(spec: TaskSpec, n_steps: int | None = None, seed: int = 0) -> None:
    """Check that a task can be built, stepped, captioned, scored and judged.

    Checks: required fields and texts; the env builds with Box observations and
    Box or Discrete actions compatible with ``default_algo``; rendering gives
    ``(H, W, 3)`` uint8 frames when ``"frames"`` is a modality; the captioner
    gives a non-empty string for every visited observation; ``success`` returns
    a bool; ``oracle_verdict`` returns a bool on a cut segment and on a whole
    episode; ``mirror``, when declared, keeps shapes and is its own inverse;
    ``obs_names``, when declared, names every observation column once;
    ``explores``, when set, is backed by a count of at least 0 in every step's ``info``.

    Args:
        spec: The task.
        n_steps: Random-action steps to run; default ``2 * segment_length``
            (at least 50).
        seed: Seed for the env and the random actions.

    Raises:
        TaskCheckError: Naming the task and the failed check.
    """
    # Imported here: the tasks package stays importable without SB3.
    from judgerl.envs.collect import collect_episodes
    from judgerl.envs.factory import make_env
    from judgerl.queries.segments import cut_segments, episode_segment

    _check_fields(spec)
    try:
        env = make_env(spec, seed=seed, render="frames" in spec.modalities)
    except Exception as e:  # any failure to build is the task's problem; report it clearly
        raise _fail(spec, f"env {spec.env_id!r} does not build: {type(e).__name__}: {e}") from e
    try:
        from judgerl.envs.spaces import flat_dim

        try:
            width = flat_dim(env.observation_space)
        except TypeError as e:
            raise _fail(spec, f"observation space {env.observation_space!r} cannot be stored: {e}") from e
        names = spec.obs_names
        if names is not None and (len(names) != width or len(set(names)) != len(names)):
            raise _fail(spec, f"obs_names must name each of the {width} observation columns once, got {names}")
        if not isinstance(env.action_space, _ALGOS[spec.default_algo]):
            need = " or ".join(c.__name__ for c in _ALGOS[spec.default_algo])
            raise _fail(spec, f"{spec.default_algo} cannot act in {env.action_space!r}; it needs a {need} action space")
        if "frames" in spec.modalities:
            frame = np.asarray(env.render())
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise _fail(spec, f"render() must give (H, W, 3) uint8 frames, got {frame.shape} {frame.dtype}")
        if spec.explores:
            _check_explores(spec, env, seed)
    finally:
        env.close()

    steps = n_steps if n_steps is not None else max(50, 2 * spec.segment_length)
    try:
        episodes, _ = collect_episodes(spec, steps, seed, captions=False, n_envs=1)
    except Exception as e:
        raise _fail(spec, f"random-action rollout failed: {type(e).__name__}: {e}") from e
    for ep in episodes:
        for obs in ep.obs:
            caption = spec.captioner(obs)
            if not isinstance(caption, str) or not caption.strip():
                raise _fail(spec, f"captioner returned {caption!r} for obs {obs}; it must give a non-empty str")
        ok = spec.success(ep.true_return, ep.final_obs)
        if not isinstance(ok, bool | np.bool_):
            raise _fail(spec, f"success must return a bool, got {type(ok).__name__}")
    if spec.mirror is not None and episodes:
        _check_mirror(spec, episodes[0].obs, episodes[0].acts)
    if spec.oracle_verdict is not None:
        rng = np.random.default_rng(seed)
        segs = cut_segments(episodes, spec.segment_length, rng, spec.absorbing, 1, spec.end_caption)
        segs += [episode_segment(ep, end_caption=spec.end_caption) for ep in episodes]
        for seg in segs:
            verdict = spec.oracle_verdict(seg)
            if not isinstance(verdict, bool | np.bool_):
                raise _fail(spec, f"oracle_verdict must return a bool, got {type(verdict).__name__}")
