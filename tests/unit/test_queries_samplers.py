import numpy as np
import pytest

from judgerl.queries.samplers import DisagreementPairs, RandomPairs, RandomSingles
from judgerl.types import Segment


def _pool(m: int) -> list[Segment]:
    return [
        Segment(
            obs=np.full((3, 2), i, np.float32),
            acts=np.zeros((3, 1), np.float32),
            env_rewards=np.full(3, i, np.float32),
            dones=np.zeros(3, np.float32),
            episode_id=str(i),
        )
        for i in range(m)
    ]


def test_random_pairs():
    pool = _pool(10)
    queries = RandomPairs().sample(pool, 50, np.random.default_rng(0))
    assert len(queries) == 50
    assert all(q.kind == "pairwise" and q.segments[0] is not q.segments[1] for q in queries)
    firsts = {q.segments[0].episode_id for q in queries}
    assert len(firsts) >= 8
    assert RandomPairs().sample(pool[:1], 5, np.random.default_rng(0)) == []


def test_disagreement_keeps_highest_std_pairs():
    pool = _pool(20)
    seen: list[list[tuple[Segment, Segment]]] = []

    def pair_std(pairs):
        seen.append(list(pairs))
        return np.array([float(a.episode_id) * float(b.episode_id) for a, b in pairs])

    sampler = DisagreementPairs(pair_std, candidate_factor=5)
    queries = sampler.sample(pool, 6, np.random.default_rng(0))
    assert len(queries) == 6 and len(seen) == 1
    candidates = seen[0]
    assert 6 < len(candidates) <= 30
    keys = {tuple(sorted((a.episode_id, b.episode_id))) for a, b in candidates}
    assert len(keys) == len(candidates)  # repeated pairs dropped
    scores = sorted((float(a.episode_id) * float(b.episode_id) for a, b in candidates), reverse=True)
    picked = [float(q.segments[0].episode_id) * float(q.segments[1].episode_id) for q in queries]
    assert picked == scores[:6]


def test_disagreement_rejects_wrong_shape():
    sampler = DisagreementPairs(lambda pairs: np.zeros(3))
    with pytest.raises(ValueError, match="uncertainty returned shape"):
        sampler.sample(_pool(10), 4, np.random.default_rng(0))


def test_random_singles():
    pool = _pool(5)
    q = RandomSingles("episode").sample(pool, 3, np.random.default_rng(0))
    assert len(q) == 3 and all(x.kind == "episode" for x in q)
    assert len({x.segments[0].episode_id for x in q}) == 3
    assert len(RandomSingles("pointwise").sample(pool, 9, np.random.default_rng(0))) == 5
