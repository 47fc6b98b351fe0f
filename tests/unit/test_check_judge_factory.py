"""Judge factory registry, and the preflight's contract checks over every registered judge type."""

from __future__ import annotations

import functools
import typing

import numpy as np
import pytest

from judgerl.config import JudgeConfig, OracleNoiseConfig
from judgerl.judges.base import Judge
from judgerl.judges.both_orders import BothOrders
from judgerl.judges.check import JudgeContractError, check_judge
from judgerl.judges.factory import JudgeUnavailableError, judge_types, make_judge, register_judge_type
from judgerl.judges.oracle import OracleJudge
from judgerl.judges.scripted import ScriptedJudge
from judgerl.testing.fixtures import make_segment
from judgerl.types import Query, Segment, TaskSpec


def seg(ret: float, t: int = 3) -> Segment:
    return make_segment(ret, t, captions=tuple(f"the pole is {'up' if ret > 0 else 'down'}" for _ in range(t)))


TASK = TaskSpec(
    id="test/tiny-v0",
    instruction="Keep the pole up.",
    env_id="Tiny-v0",
    captioner=lambda o: "the pole is up",
    success=lambda r, o: r > 0,
    question="Is the pole up?",
    goal_text="the pole is up",
    baseline_text="a pole",
    oracle_verdict=lambda s: s.true_return > 0,
)


def test_builds_oracle_and_scripted() -> None:
    cfg = JudgeConfig(type="oracle", oracle=OracleNoiseConfig(flip_prob=0.1))
    j = make_judge(cfg, TASK, seed=3)
    assert isinstance(j, OracleJudge) and j.seed == 3 and j.noise.flip_prob == 0.1
    s = make_judge(JudgeConfig(type="scripted", delay_s=0.01), TASK, seed=0)
    assert isinstance(s, ScriptedJudge) and s.delay_s == 0.01
    q = Query("pairwise", (seg(1.0), seg(-1.0)))
    assert s.judge(TASK, [q])[0].preference == 1.0


def test_both_orders_wrapping() -> None:
    j = make_judge(JudgeConfig(type="oracle", both_orders=True, on_disagreement="abstain"), TASK, seed=0)
    assert isinstance(j, BothOrders) and j.on_disagreement == "abstain" and isinstance(j.inner, OracleJudge)


def test_register_custom_and_lazy_types() -> None:
    assert {"oracle", "scripted"} <= set(judge_types())

    def build(cfg: JudgeConfig, task: TaskSpec, seed: int) -> Judge:
        return OracleJudge(seed=seed, name="custom")

    register_judge_type("custom-test", build)
    register_judge_type("custom-test", build)  # same builder again: fine
    with pytest.raises(ValueError, match="already registered"):
        register_judge_type("custom-test", lambda c, t, s: OracleJudge())
    register_judge_type("lazy-test", "judgerl.judges.factory:_build_oracle")
    register_judge_type("missing-test", "surely_not_installed_pkg_xyz:build")
    cfg = JudgeConfig()
    try:
        cfg.__dict__["type"] = "custom-test"  # bypass the Literal: other types extend it later
        assert make_judge(cfg, TASK, seed=2).id.startswith("custom-")
        cfg.__dict__["type"] = "lazy-test"
        assert isinstance(make_judge(cfg, TASK, seed=0), OracleJudge)
        cfg.__dict__["type"] = "missing-test"
        with pytest.raises(JudgeUnavailableError, match="surely_not_installed_pkg_xyz"):
            make_judge(cfg, TASK, seed=0)
        cfg.__dict__["type"] = "nope"
        with pytest.raises(ValueError, match="known types"):
            make_judge(cfg, TASK, seed=0)
    finally:
        from judgerl.judges import factory

        for name in ("custom-test", "lazy-test", "missing-test"):
            factory._REGISTRY.pop(name, None)


def _probes() -> dict[str, list[Query]]:
    rng = np.random.default_rng(0)
    rets = rng.normal(size=(3, 2))  # three probes per kind: the contract, not the quality (GGUF: ~0.15 s each)
    return {
        "pairwise": [Query("pairwise", (seg(a), seg(b))) for a, b in rets],
        "pointwise": [Query("pointwise", (seg(a),)) for a, _ in rets],
        "episode": [Query("episode", (seg(b),)) for _, b in rets],
    }


@functools.cache
def _fake_server_url() -> str:
    """A fake OpenAI-compatible server on 127.0.0.1 for the ``openai`` type (started once, daemon thread)."""
    from judgerl.testing.fake_openai import FakeOpenAIServer

    server = FakeOpenAIServer(latency_s=0.0)
    server.__enter__()
    return server.base_url


@functools.cache
def _built(type_name: str) -> Judge:
    """One judge per type for the whole module: model-backed judges are slow to load."""
    cfg: dict[str, object] = {"type": type_name}
    if type_name == "openai":
        cfg["client"] = {"base_url": _fake_server_url(), "model": "fake", "max_retries": 0}
    return make_judge(JudgeConfig.model_validate(cfg), TASK, seed=0)


@pytest.fixture(scope="module", autouse=True)
def _close_cached_judges() -> typing.Iterator[None]:
    """Free model-backed judges before interpreter shutdown (llama.cpp's finaliser fails once modules are gone)."""
    yield
    _built.cache_clear()
    import gc

    gc.collect()


CONFIG_TYPES = typing.get_args(JudgeConfig.model_fields["type"].annotation)


@pytest.mark.parametrize("both_orders", [False, True])
@pytest.mark.parametrize("type_name", sorted(set(judge_types()) | set(CONFIG_TYPES)))
def test_every_registered_judge_type_keeps_the_contract(type_name: str, both_orders: bool) -> None:
    """New judge types registered in the factory are checked here automatically.

    A builder that cannot work in this environment (missing optional package,
    model file or server) raises JudgeUnavailableError and the type is skipped.
    A judge may refuse a query kind it does not support with ValueError or
    NotImplementedError, but must support at least one kind.
    """
    if type_name not in judge_types():
        pytest.skip(
            f"judge.type {type_name!r} is accepted by JudgeConfig but not registered in judgerl.judges.factory; "
            "add a lazy 'module:function' entry to factory._REGISTRY"
        )
    try:
        judge = _built(type_name)
    except JudgeUnavailableError as e:
        pytest.skip(f"judge type {type_name!r} unavailable here: {e}")
    if both_orders:
        judge = BothOrders(judge)
    assert isinstance(judge, Judge)
    supported = []
    for kind, probes in _probes().items():
        try:
            rep = check_judge(judge, TASK, probes, planned_labels=10)
        except JudgeContractError:
            raise
        except (ValueError, NotImplementedError):
            continue
        supported.append(kind)
        assert rep.n_probes == len(probes) and 0.0 <= rep.invalid_rate <= 1.0
        assert rep.judge_id == judge.id
    assert supported, f"judge type {type_name!r} answered no query kind"
