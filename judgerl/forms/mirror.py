"""Mirrored targets: a task's left-right symmetry turned into a copy of every labelled pair.

CartPole and Pendulum look the same in a mirror: negate the positions, speeds
and actions and the true reward and the dynamics do not change, so whatever
the judge preferred, it should prefer the mirrored pair just as much. A small
language model does not: measured on CartPole with Qwen2.5-0.5B (decision
0042), its labels liked "right of centre" more than "left of centre", the
reward model learned a slope towards the right edge and the fresh agent drove
the cart off the right end of the track in every replayed episode. With ``reward.mirror``
the reward model is fitted on every pair and its mirror image, so it
cannot learn a side the task does not have. Augmenting data with a known
symmetry is an old idea in RL (mirrored states and actions for symmetric
locomotion, Abdolhosseini et al. 2019); here it acts on the reward's training
pairs, not on the policy.

Validation pairs are mirrored too, and stay on the validation side. Early
stopping and the choice between warm-started and new weights go by the
validation loss; measured on the judge's pairs alone, it picked the weights
that kept the judge's side preference (a CartPole reward 0.14 at the right end
of the track and 0.02 at the left, from a fit on mirrored training pairs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from judgerl.forms.base import FeedbackForm, PreferenceTargets, TargetPlan, Targets
from judgerl.types import Label, Query, Segment, TaskSpec


def mirror_segment(segment: Segment, task: TaskSpec) -> Segment:
    """The mirror image of ``segment`` under ``task.mirror``.

    Live steps are mirrored; absorbing padding (``dones == 1``, all-zero rows)
    is left as it is. Captions are written again from the mirrored observations
    (padding keeps its end caption) and frames are flipped left to right.

    Raises:
        ValueError: The task declares no mirror symmetry.
    """
    if task.mirror is None:
        raise ValueError(f"task {task.id!r} declares no mirror symmetry (TaskSpec.mirror)")
    live = np.asarray(segment.dones) < 0.5
    m_obs, m_acts = task.mirror(segment.obs[live], segment.acts[live])
    obs, acts = segment.obs.copy(), segment.acts.copy()
    obs[live], acts[live] = m_obs, m_acts
    captions = segment.captions
    if captions:
        captions = tuple(task.captioner(o) if keep else c for o, c, keep in zip(obs, captions, live, strict=True))
    frames = None if segment.frames is None else np.ascontiguousarray(segment.frames[:, :, ::-1])
    return dataclasses.replace(segment, obs=obs, acts=acts, captions=captions, frames=frames)


def with_mirrored_pairs(targets: PreferenceTargets, task: TaskSpec) -> PreferenceTargets:
    """``targets`` plus the mirror image of each pair, with the same preference and on the same side of the split.

    Args:
        targets: ``P`` pairs.
        task: The task whose ``mirror`` is applied.

    Returns:
        ``2P`` pairs: the originals first, then their mirror images (key ``"<key>|mirror"``).
    """
    cache: dict[int, Segment] = {}

    def mirrored(seg: Segment) -> Segment:
        if id(seg) not in cache:  # pointwise targets reuse each scored segment in several pairs
            cache[id(seg)] = mirror_segment(seg, task)
        return cache[id(seg)]

    keys = targets.keys or tuple(str(i) for i in range(len(targets)))
    return PreferenceTargets(
        first=(*targets.first, *map(mirrored, targets.first)),
        second=(*targets.second, *map(mirrored, targets.second)),
        prefs=np.concatenate([targets.prefs, targets.prefs]).astype(np.float32),
        val=np.concatenate([targets.val, targets.val]).astype(bool),
        keys=(*keys, *(f"{k}|mirror" for k in keys)),
    )


def plan_targets(
    form: FeedbackForm, labelled: Sequence[tuple[Query, Label]], rng: np.random.Generator, plan: TargetPlan
) -> Targets:
    """The form's targets from ``labelled``, with mirrored pairs when ``plan.mirror`` names a task."""
    targets = form.targets(labelled, rng, plan)
    if plan.mirror is None:
        return targets
    if not isinstance(targets, PreferenceTargets):  # the config check refuses this combination first
        raise ValueError(f"reward.mirror mirrors preference pairs; form {form.name} gives verdicts")
    return with_mirrored_pairs(targets, plan.mirror)
