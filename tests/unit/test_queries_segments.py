import numpy as np
import pytest

from judgerl.queries.segments import END_CAPTION, cut_segments, episode_segment
from judgerl.types import Episode


def _episode(t: int, terminated: bool, frames: bool = True, eid: str = "e", infos=None) -> Episode:
    obs = np.arange(1, t + 1, dtype=np.float32)[:, None].repeat(3, axis=1)  # never all-zero
    return Episode(
        obs=obs,
        acts=np.ones((t, 1), np.float32),
        env_rewards=np.full(t, 1.0, np.float32),
        terminated=terminated,
        final_obs=np.full(3, t + 1, np.float32),
        captions=tuple(f"step {i}" for i in range(t)),
        frames=np.full((t, 4, 5, 3), 200, np.uint8) if frames else None,
        episode_id=eid,
        infos=infos or {},
    )


def test_absorbing_padding_after_termination():
    ep = _episode(10, terminated=True, infos={"cat_harmed": True, "note": "ignored", "fruit": 2})
    segs = cut_segments([ep], 25, np.random.default_rng(0), absorbing=True, per_episode=10)
    assert len(segs) == 10 and len({s.start for s in segs}) == 10
    for s in segs:
        live = 10 - s.start
        assert s.length == 25
        np.testing.assert_array_equal(s.obs[:live], ep.obs[s.start :])
        assert not s.obs[live:].any() and not s.acts[live:].any() and not s.env_rewards[live:].any()
        assert s.dones[:live].sum() == 0 and np.all(s.dones[live:] == 1.0)
        assert s.captions[:live] == ep.captions[s.start :] and set(s.captions[live:]) == {END_CAPTION}
        assert np.all(s.frames[:live] == 200) and not s.frames[live:].any()
        assert s.truth["return"] == pytest.approx(live) == s.true_return
        assert s.truth["episode_return"] == 10 and s.truth["terminated"] == 1.0
        assert s.truth["cat_harmed"] == 1.0 and s.truth["fruit"] == 2.0 and "note" not in s.truth


def test_truncated_and_short_episodes_are_not_padded():
    rng = np.random.default_rng(0)
    short_trunc = _episode(10, terminated=False)
    assert cut_segments([short_trunc], 25, rng, absorbing=True) == []
    short_term = _episode(10, terminated=True)
    assert cut_segments([short_term], 25, rng, absorbing=False) == []
    long = _episode(100, terminated=False, frames=False)
    segs = cut_segments([long], 25, rng, absorbing=True)
    assert len(segs) == 4  # default: one window per `length` steps
    for s in segs:
        assert s.length == 25 and not s.dones.any() and s.frames is None
        np.testing.assert_array_equal(s.obs, long.obs[s.start : s.start + 25])
        assert s.start + 25 <= 100


def test_window_starts_cover_episode_and_per_episode_caps():
    ep = _episode(30, terminated=False)
    starts = set()
    rng = np.random.default_rng(1)
    for _ in range(200):
        starts.update(s.start for s in cut_segments([ep], 25, rng, absorbing=False, per_episode=3))
    assert starts == set(range(6))  # 30 - 25 + 1 possible starts, all reachable
    assert len(cut_segments([ep], 25, rng, absorbing=False, per_episode=3)) == 3


def test_episode_segment_marks_termination():
    term = episode_segment(_episode(12, terminated=True))
    assert term.length == 13 and term.dones.tolist() == [0.0] * 12 + [1.0]
    assert term.captions[-1] == END_CAPTION and term.truth["return"] == 12
    trunc = episode_segment(_episode(12, terminated=False))
    assert trunc.length == 12 and not trunc.dones.any()
    assert episode_segment(_episode(12, terminated=True), mark_end=False).length == 12
    said = episode_segment(_episode(12, terminated=True), end_caption="the pole has fallen over")
    assert said.captions[-1] == "the pole has fallen over"


def test_padding_is_captioned_with_the_tasks_end_caption_wherever_queries_are_cut():
    # What a judge reads once the episode ended: CartPole says the pole fell, not only that the episode is over
    # (the 0.5B judge's preflight agreement rose from 0.56-0.58 to 0.75-0.76 with it; decision 0041).
    from judgerl.envs.collect import collect_episodes
    from judgerl.forms import get_form
    from judgerl.forms.base import QueryPlan
    from judgerl.tasks import get_task

    task = get_task("cartpole/balance-v0")
    assert task.end_caption != END_CAPTION and "fallen" in task.end_caption
    episodes, _ = collect_episodes(task, 300, seed=0, n_envs=2)
    plan = QueryPlan(segment_length=task.segment_length, absorbing=True, end_caption=task.end_caption)
    for kind in ("pointwise", "pairwise"):
        queries = get_form(kind).queries(episodes, 12, np.random.default_rng(0), plan)
        padded = [s for q in queries for s in q.segments if s.dones.any()]
        assert padded, kind
        for s in padded:
            ended = s.dones >= 0.5
            assert {c for c, e in zip(s.captions, ended, strict=True) if e} == {task.end_caption}
            assert END_CAPTION not in s.captions


def test_padding_shows_termination_in_true_return_of_cartpole():
    from judgerl.envs.collect import collect_episodes
    from judgerl.tasks import get_task

    task = get_task("cartpole/balance-v0")
    episodes, _ = collect_episodes(task, 400, seed=0, n_envs=2)
    segs = cut_segments(episodes, task.segment_length, np.random.default_rng(0), absorbing=True)
    returns = {s.true_return for s in segs}
    assert len(returns) > 3  # equal-length segments differ through termination
    for s in segs:
        assert s.true_return == pytest.approx(task.segment_length - s.dones.sum())
        assert task.oracle_verdict(s) == (s.dones.sum() == 0)
