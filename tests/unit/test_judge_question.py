"""judge.question: the yes/no question a gguf or openai judge asks instead of the task's own."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from judgerl.config import ClientConfig, JudgeConfig, load_config, validate_references
from judgerl.configbase import ConfigError
from judgerl.judges.factory import make_judge
from judgerl.judges.llm import ChatJudge
from judgerl.testing.fake_openai import FakeOpenAIServer, Reply, request_text
from judgerl.testing.fixtures import tiny_task
from judgerl.types import Query, Segment

TASK = dataclasses.replace(tiny_task(), question="Is the value high?")
OTHER = "Is the value high and steady?"


def _seg() -> Segment:
    n = 4
    return Segment(
        obs=np.zeros((n, 2), np.float32),
        acts=np.zeros((n, 1), np.float32),
        env_rewards=np.zeros(n, np.float32),
        dones=np.zeros(n, np.float32),
        captions=tuple("value 1" for _ in range(n)),
    )


def _asked(question: str | None) -> tuple[str, str]:
    """The prompt text the fake server received, and the judge's id."""
    seen: list[str] = []

    def reply(req: dict[str, Any]) -> Reply:
        seen.append(request_text(req))
        return Reply("yes")

    with FakeOpenAIServer(responder=reply) as srv:
        client = ClientConfig.model_validate(
            {"base_url": srv.base_url, "model": "m", "logprobs": False, "api_key_env": "JUDGERL_NO_SUCH_KEY"}
        )
        judge = ChatJudge(client, form="pointwise", question=question)
        label = judge.judge(TASK, [Query("pointwise", (_seg(),))])[0]
    assert label.status == "ok"
    return seen[0], judge.id


def test_the_chat_judge_asks_the_configured_question_under_its_own_id() -> None:
    own_text, own_id = _asked(None)
    new_text, new_id = _asked(OTHER)
    assert TASK.question in own_text and OTHER not in own_text
    assert OTHER in new_text and TASK.question not in new_text
    assert new_id != own_id  # labels asked with another question are never reused


def test_the_factory_passes_the_question_to_both_yes_no_judges() -> None:
    chat = make_judge(JudgeConfig.model_validate({"type": "openai", "form": "pointwise", "question": OTHER}), TASK, 0)
    assert isinstance(chat, ChatJudge) and chat.question == OTHER
    pytest.importorskip("llama_cpp")
    from judgerl.judges.gguf import GGUFJudge

    gguf = make_judge(JudgeConfig.model_validate({"type": "gguf", "question": OTHER}), TASK, 0)
    assert isinstance(gguf, GGUFJudge) and gguf.question == OTHER


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["judge.type=embedding"], "asks no yes/no question"),
        (["judge.type=openai", "query.kind=pairwise"], "pairwise prompt asks no yes/no question"),
        (["judge.type=gguf", "judge.question=''"], "empty"),
    ],
)
def test_a_question_nobody_asks_is_refused(sets: list[str], message: str) -> None:
    base = ["name=q", "task.id=pendulum/swingup-v0", f"judge.question={OTHER}", "query.kind=pointwise"]
    cfg = load_config(None, [*base, *sets])
    with pytest.raises(ConfigError, match=rf"judge\.question: .*{message}"):
        validate_references(cfg)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["judge.type=openai", "judge.form=pointwise"], "only the gguf judge"),
        (["judge.type=gguf", "judge.contrast_question=' '"], "empty"),
        (["judge.type=gguf", f"judge.contrast_question={OTHER}"], "the same as judge.question"),
    ],
)
def test_a_contrast_question_only_the_gguf_judge_asks(sets: list[str], message: str) -> None:
    base = ["name=q", "task.id=pendulum/swingup-v0", f"judge.question={OTHER}", "query.kind=pointwise"]
    cfg = load_config(None, [*base, "judge.contrast_question=Is the pendulum hanging down?", *sets])
    with pytest.raises(ConfigError, match=rf"judge\.contrast_question: .*{message}"):
        validate_references(cfg)


def test_the_factory_passes_the_contrast_question() -> None:
    pytest.importorskip("llama_cpp")
    from judgerl.judges.gguf import GGUFJudge

    cq = "Is the pendulum hanging down?"
    gguf = make_judge(JudgeConfig.model_validate({"type": "gguf", "contrast_question": cq}), TASK, 0)
    assert isinstance(gguf, GGUFJudge) and gguf.contrast_question == cq
    plain = make_judge(JudgeConfig.model_validate({"type": "gguf"}), TASK, 0)
    assert isinstance(plain, GGUFJudge) and plain.id != gguf.id


def test_report_names_the_question_the_judge_was_asked() -> None:
    from judgerl.evaluation.report_data import judge_words

    rows = dict(judge_words({"judge": {"type": "gguf", "question": OTHER}, "query": {"kind": "pointwise"}}, [], []))
    assert rows["question asked"].startswith(OTHER)
    assert "question asked" not in dict(judge_words({"judge": {"type": "gguf"}}, [], []))
    both = {"judge": {"type": "gguf", "contrast_question": "Is it down?"}, "query": {"kind": "pointwise"}}
    assert dict(judge_words(both, [], []))["contrast question"].startswith("Is it down?")


def test_tasks_command_shows_each_task_question(capsys: pytest.CaptureFixture[str]) -> None:
    from judgerl.cli import main
    from judgerl.tasks import get_task

    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert f"yes/no question: {get_task('pendulum/swingup-v0').question}" in out
