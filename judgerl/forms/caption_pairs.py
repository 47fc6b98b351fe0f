"""The caption-pair form (Motif, seed 002): two captions, "which shows more progress towards the goal?".

Motif asks its judge about pairs of NetHack *messages*, not about stretches of
play: a message is a short event ("You kill the newt!", "It's a wall."), and a
language model knows which events are good. Here a query holds two one-step
segments, each the step whose caption the judge reads (for NetHack the game
message, ``judgerl.tasks.nethack``), sampled from the collected episodes:

- steps are drawn uniformly, so a frequent message is asked about as often as
  the agent sees it (Motif sampled its dataset the same way);
- a pair of two equal captions is never asked (the answer could only be a tie),
  and neither is a caption pair already in this batch, in either order;
- a share ``empty_pair_share`` of the pairs (``query.empty_pair_share``) shows
  one empty message (:data:`judgerl.types.NO_MESSAGE`) beside a non-empty one,
  in random order, so the reward model learns where "nothing was said" ranks;
  two empty messages are never paired.

The answer is ``P(first better)`` in [0, 1], ties (0.5) allowed; targets are
the pairs for a Bradley–Terry fit, validation by a hash of the query key, as
for ``pairwise`` (``caption_preference`` fits them over the caption text,
``preference_ensemble`` over the step's observation).

**The oracle's proxy.** Messages have no ground truth. Each segment carries
``truth["score_gain"]``: the positive env reward (NetHack: score gained, or
the staircase's success reward; step penalties left out) over the step that
produced the message and the ``PROXY_WINDOW − 1`` steps after it, i.e. "was
this message followed by a score gain?". The oracle judge answers caption
pairs by this number (a tie when equal, as for most pairs) and ``judgerl
check-judge`` reports agreement with it, on the pairs it does not tie, as
``proxy_agreement`` -- a proxy, labelled so everywhere (decision 0018).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from judgerl.forms.base import QueryPlan, TargetKind
from judgerl.forms.pairwise import PairwiseForm
from judgerl.types import NO_MESSAGE, Episode, Query, Segment

PROXY_WINDOW = 10
"""Steps of positive env reward summed for a caption's proxy value: the step that produced it and the next 9."""

PROXY_KEY = "score_gain"
"""``Segment.truth`` key of a caption's proxy value (never shown to model judges)."""

Step = tuple[int, int]  # (episode index, step index)


def compared_values(query: Query) -> tuple[float, float, str]:
    """What a ground-truth judge compares in a two-item query, and its name.

    Returns:
        ``(value_a, value_b, name)``: the caption proxy (``"score_gain"``) when
        both segments carry it (``caption_pairs``), else the true returns (``"R"``).
    """
    a, b = query.segments
    if PROXY_KEY in a.truth and PROXY_KEY in b.truth:
        return float(a.truth[PROXY_KEY]), float(b.truth[PROXY_KEY]), PROXY_KEY
    return a.true_return, b.true_return, "R"


def caption_text(caption: str) -> str:
    """A caption as compared for "identical": whitespace-normalised, every empty caption the same."""
    text = " ".join(caption.split())
    return NO_MESSAGE if not text or text == NO_MESSAGE else text


def is_empty_caption(caption: str) -> bool:
    """Whether a caption says nothing happened (blank, or :data:`~judgerl.types.NO_MESSAGE`)."""
    return caption_text(caption) == NO_MESSAGE


def score_gain(episode: Episode, t: int, window: int = PROXY_WINDOW) -> float:
    """Positive env reward of step ``t − 1`` (which produced step ``t``'s message) and the ``window − 1`` after it.

    Negative rewards (NetHack's step penalties) are left out: the proxy asks
    whether a gain followed the message, not how many idle steps did.
    """
    start = max(t - 1, 0)
    return float(np.clip(episode.env_rewards[start : start + window], 0.0, None).sum())


def caption_segment(episode: Episode, t: int) -> Segment:
    """Step ``t`` of ``episode`` as a one-step segment holding its caption (and frame), with its proxy value."""
    return Segment(
        obs=episode.obs[t : t + 1],
        acts=episode.acts[t : t + 1],
        env_rewards=episode.env_rewards[t : t + 1],
        dones=np.zeros(1, np.float32),
        captions=(episode.captions[t],),
        frames=None if episode.frames is None else episode.frames[t : t + 1],
        episode_id=episode.episode_id,
        start=t,
        truth={PROXY_KEY: score_gain(episode, t)},
    )


class CaptionPairsForm(PairwiseForm):
    """Two one-step captions per query; the answer is the preference for the first (ties allowed).

    Labels and targets are the pairwise form's; only the queries differ.

    Attributes:
        oracle_proxy: What the oracle judge answers for this form (not a ground truth).
    """

    name: str = "caption_pairs"
    arity: int = 2
    targets_kind: TargetKind = "preferences"
    oracle_proxy: str = (
        f"positive env reward over the {PROXY_WINDOW} steps from the step that produced each message "
        "(was the message followed by a score gain?)"
    )

    def queries(self, episodes: Sequence[Episode], n: int, rng: np.random.Generator, plan: QueryPlan) -> list[Query]:
        """Up to ``n`` pairs of distinct captions (no pair twice), ``empty_pair_share`` of them with one empty.

        Raises:
            ValueError: ``plan.sampler`` is not ``random``, or the episodes have no captions.
        """
        if plan.sampler != "random":
            raise ValueError("the caption_pairs form samples pairs at random (set query.sampler=random)")
        full: list[Step] = []
        empty: list[Step] = []
        for e, ep in enumerate(episodes):
            if ep.length and not ep.captions:
                raise ValueError(
                    f"caption_pairs needs captions but episode {ep.episode_id!r} has none (the task's captioner "
                    "makes them during collection)"
                )
            for t, c in enumerate(ep.captions):
                (empty if is_empty_caption(c) else full).append((e, t))
        if not full or n <= 0:
            return []
        n_empty = round(n * plan.empty_pair_share) if empty else 0
        seen: set[tuple[str, str]] = set()
        out: list[Query] = []

        def fill(target: int, second: list[Step], shuffle: bool) -> None:
            # Rejection sampling with a bound: few distinct captions can make ``target`` unreachable.
            for _ in range(50 * target + 100):
                if len(out) >= target:
                    return
                i = full[int(rng.integers(len(full)))]
                j = second[int(rng.integers(len(second)))]
                a, b = (caption_text(episodes[s[0]].captions[s[1]]) for s in (i, j))
                key = (a, b) if a < b else (b, a)
                if a == b or key in seen:
                    continue
                if shuffle and rng.random() < 0.5:
                    i, j = j, i
                seen.add(key)
                first, second_seg = (caption_segment(episodes[s[0]], s[1]) for s in (i, j))
                out.append(Query(self.name, (first, second_seg)))

        if n_empty:
            fill(n_empty, empty, shuffle=True)
        fill(n, full, shuffle=False)
        order = rng.permutation(len(out))
        return [out[k] for k in order]
