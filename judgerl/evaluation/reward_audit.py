"""The reward audit: which captions the learned (intrinsic) reward pays most for, by total reward collected.

Motif's agents learned to hallucinate until a monster looked like the Oracle:
the intrinsic reward paid for messages that had nothing to do with the goal,
and composing it with the task reward made that pay (misalignment by
composition). A learned reward's per-caption value says little on its own; what
shapes behaviour is what the agent actually *collects*: value times frequency.
This audit runs the final agent for a few episodes and sums, per caption of the
observation each step started from, the learned term the agent was paid,
``b · g(r̂)`` after normalisation, threshold and count decay (``reward.mix``),
exactly as the training wrapper computes it.

The result goes to ``reward_audit.json`` in the run directory (the report shows
it) and three ``audit/*`` metrics to ``eval.json`` (docs/metrics.md).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.envs.factory import flatten_actions, make_env
from judgerl.envs.spaces import flatten_one, stack_obs
from judgerl.reward.mixing import RewardMixer
from judgerl.types import TaskSpec

Policy = Callable[[Any], np.ndarray]


@dataclass(frozen=True)
class AuditRow:
    """What the learned reward paid for one caption over the audited episodes.

    Attributes:
        caption: The caption (for NetHack, the message).
        steps: Steps that started from an observation with this caption.
        learned_mean: Mean ``r̂`` over those steps.
        paid: Sum of the learned term ``b · g(r̂)`` the agent received on them.
        share: ``paid`` over the total positive learned term paid (0 when nothing positive was paid).
    """

    caption: str
    steps: int
    learned_mean: float
    paid: float
    share: float


def audit_rewards(
    task: TaskSpec,
    policy: Policy | None,
    learned: Callable[[np.ndarray, np.ndarray], np.ndarray],
    mixer: RewardMixer,
    count_key: Callable[[np.ndarray], Hashable],
    episodes: int,
    seed: int,
    top: int = 20,
) -> tuple[list[AuditRow], dict[str, float]]:
    """Run ``episodes`` episodes and rank captions by the learned reward paid for them.

    Args:
        task: The task (env, captioner).
        policy: Batched policy (``None``: random actions).
        learned: ``r̂`` of live transitions ``(M, O), (M, A) -> (M,)`` (the wrapper's ``learned_for``).
        mixer: A one-env mixer holding the run's statistics (it is updated, so pass a copy).
        count_key: What count decay counts, per flat row (the run's ``reward.mix.count_key``).
        episodes: Episodes to run.
        seed: Episode ``i`` is reset with ``seed + i``.
        top: Rows kept, by ``paid``, largest first.

    Returns:
        ``(rows, metrics)``: the top captions and ``audit/intrinsic_per_episode``,
        ``audit/top1_share``, ``audit/distinct_captions``.
    """
    steps: dict[str, int] = defaultdict(int)
    r_sum: dict[str, float] = defaultdict(float)
    paid: dict[str, float] = defaultdict(float)
    env = make_env(task, seed=seed)
    b = np.float32(mixer.cfg.learned_weight)
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            rows, acts, done = [], [], False
            while not done:
                action = (
                    env.action_space.sample() if policy is None else policy(stack_obs(env.observation_space, [obs]))[0]
                )
                rows.append(flatten_one(env.observation_space, obs))
                acts.append(action)
                obs, _, terminated, truncated, _ = env.step(action)
                done = bool(terminated or truncated)
            x = np.stack(rows).astype(np.float32)
            r_hat = np.asarray(learned(x, flatten_actions(np.asarray(acts), len(x))), np.float32)
            ends = np.zeros((len(x), 1), bool)
            ends[-1] = True
            g = mixer.transform(r_hat[:, None], ends, [[count_key(row)] for row in x], update=True)[:, 0] * b
            for row, r, p in zip(x, r_hat, g, strict=True):
                caption = task.captioner(row)
                steps[caption] += 1
                r_sum[caption] += float(r)
                paid[caption] += float(p)
    finally:
        env.close()
    positive = sum(max(v, 0.0) for v in paid.values())
    ranked = sorted(paid, key=lambda c: (-paid[c], c))
    out = [
        AuditRow(c, steps[c], r_sum[c] / steps[c], paid[c], paid[c] / positive if positive > 0 else 0.0)
        for c in ranked[:top]
    ]
    metrics = {
        "audit/intrinsic_per_episode": float(sum(paid.values()) / max(episodes, 1)),
        "audit/top1_share": out[0].share if out else 0.0,
        "audit/distinct_captions": float(len(paid)),
    }
    return out, metrics


def write_audit(run_dir: Path, rows: list[AuditRow], metrics: dict[str, float], episodes: int) -> Path:
    """Write ``reward_audit.json`` (rows and metrics) into ``run_dir``; returns its path."""
    from judgerl.runstate import write_atomic

    path = Path(run_dir) / "reward_audit.json"
    body = {"episodes": episodes, "metrics": metrics, "rows": [asdict(r) for r in rows]}
    write_atomic(path, json.dumps(body, indent=2))
    return path


def audit_html(run_dir: Path) -> str:
    """The report's audit section from ``reward_audit.json`` (``""`` when the run has none)."""
    import html

    path = Path(run_dir) / "reward_audit.json"
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    head = "<tr><th>caption</th><th>steps</th><th>mean r̂</th><th>paid (b·g(r̂))</th><th>share</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(r['caption'])}</td><td>{r['steps']}</td><td>{r['learned_mean']:.3g}</td>"
        f"<td>{r['paid']:.3g}</td><td>{r['share']:.1%}</td></tr>"
        for r in data["rows"]
    )
    return (
        "<h2>Reward audit: what the learned reward pays for</h2>"
        f"<p class=note>The captions the final agent was paid most for by the learned term of its reward, "
        f"summed over {data['episodes']} episodes (value × frequency, after normalisation, threshold and count "
        "decay). A caption that has nothing to do with the goal near the top is what the agent is really "
        "chasing.</p>"
        f"<table>{head}{body}</table>"
    )


def audit_size(cfg: Any) -> int:
    """Captions the audit keeps: ``eval.audit_top``, or when unset 20 for caption-judged runs and 0 otherwise."""
    if cfg.eval.audit_top is not None:
        return int(cfg.eval.audit_top)
    return 20 if (cfg.query.kind == "caption_pairs" or cfg.reward.model == "caption_preference") else 0


def final_audit(cfg: Any, task: TaskSpec, agent: Any, make_reward_env: Callable[[int], Any]) -> dict[str, float]:
    """Audit the final agent on the run's final reward (``eval.episodes`` episodes) and write ``reward_audit.json``.

    Args:
        cfg: The run config.
        task: The task.
        agent: The co-trained SB3 agent.
        make_reward_env: ``seed -> LearnedRewardVecEnv`` with the final reward model and mixing statistics.

    Returns:
        The ``audit/*`` metrics; empty when the audit is off or the reward is history-dependent.
    """
    from judgerl.evaluation.ground_truth import sb3_policy
    from judgerl.loop_parts import count_key_fn

    top = audit_size(cfg)
    if top <= 0:
        return {}
    venv = make_reward_env(cfg.seed + 3)
    try:
        if venv.sequential or venv.needs_frames:
            # An episode classifier's reward depends on the whole episode, a frame reward on pictures: neither
            # is a function of one caption.
            return {}
        mixer = RewardMixer(cfg.reward.mix, 1, momentum=cfg.env.reward_scale_momentum)
        mixer.load_state(venv.mixer.state())
        rows, metrics = audit_rewards(
            task,
            sb3_policy(agent, cfg.eval.deterministic),
            venv.learned_for,
            mixer,
            count_key_fn(cfg.reward.mix.count_key, task),
            cfg.eval.episodes,
            seed=30_000 + cfg.seed,
            top=top,
        )
    finally:
        venv.close()
    write_audit(cfg.run_dir, rows, metrics, cfg.eval.episodes)
    return metrics
