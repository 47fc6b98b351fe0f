"""Judges on caption pairs: Motif's prompt through the fake OpenAI server, the embedded judge, config checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from judgerl.config import ClientConfig, ZeroShotConfig, load_config, validate_references
from judgerl.configbase import ConfigError
from judgerl.forms.caption_pairs import caption_segment
from judgerl.judges.llm import ChatJudge
from judgerl.judges.llm_prompts import load_prompt
from judgerl.judges.zero_shot import EmbeddingJudge
from judgerl.testing.fake_openai import FakeOpenAIServer, request_text
from judgerl.types import NO_MESSAGE, Episode, Query

TASK_ID = "nethack/score-v0"


def _pair(first: str, second: str) -> Query:
    ep = Episode(
        obs=np.arange(4, dtype=np.float32).reshape(2, 2),
        acts=np.zeros((2, 1), np.float32),
        env_rewards=np.zeros(2, np.float32),
        terminated=True,
        final_obs=np.zeros(2, np.float32),
        captions=(first, second),
    )
    return Query("caption_pairs", (caption_segment(ep, 0), caption_segment(ep, 1)))


def _task() -> Any:
    from judgerl.tasks import get_task

    return get_task(TASK_ID)


def _judge(srv: FakeOpenAIServer, prompt: str | None = None, form: str | None = "caption_pairs") -> ChatJudge:
    cfg = ClientConfig.model_validate(
        {"base_url": srv.base_url, "model": "m", "timeout_s": 2.0, "backoff_base_s": 0.01, "api_key_env": ""}
    )
    return ChatJudge(cfg, form=form, prompt=prompt)  # type: ignore[arg-type]


ANSWERS = {
    "You kill the newt!": "1",
    "It's a wall.": "2",
    "You see here a rock.": "tie",
    "The door opens.": 'Both are minor.\nThe door opening allows exploration...\n("best_description": 1)',
    "You hear some noises.": "I like both. Neither? maybe",
}


SENT: list[str] = []


def _responder(req: dict[str, Any]) -> str:
    text = request_text(req)
    SENT.append(text)
    first = text.split('"description_1":\n"', 1)[1].split('"', 1)[0]
    return ANSWERS.get(first, "tie")


@pytest.mark.parametrize("prompt", [None, "caption_pairs_short_v1"])
def test_the_motif_prompt_parses_1_2_tie_and_a_chain_of_thought(prompt: str | None) -> None:
    queries = [_pair(m, "(no message)") for m in ANSWERS]
    SENT.clear()
    with FakeOpenAIServer(responder=_responder) as srv:
        labels = _judge(srv, prompt).judge(_task(), queries)
    sent = list(SENT)
    assert [lab.preference for lab in labels[:4]] == [1.0, 0.0, 0.5, 1.0]
    assert labels[4].status == "failed" and "neither 1, 2 nor tie" in labels[4].provenance.error
    text = next(t for t in sent if "You kill the newt!" in t)
    assert _task().instruction in text and "NetHack" in text
    assert '"description_2":\n""' in text  # an empty message is shown empty, as Motif did


def test_the_default_answer_of_the_fake_server_is_valid() -> None:
    with FakeOpenAIServer() as srv:
        label = _judge(srv).judge(_task(), [_pair("You kill the newt!", "It's a wall.")])[0]
    assert label.status == "ok" and label.preference == 1.0


def test_a_chat_judge_needs_the_form_set_for_caption_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer() as srv:
        with pytest.raises(ValueError, match="judge.form: caption_pairs"):
            _judge(srv, form=None).judge(_task(), [_pair("a", "b")])
        pointwise = _judge(srv, form="pointwise").judge(_task(), [_pair("a", "b")])[0]
        assert pointwise.status == "ok" and pointwise.preference is not None  # each message scored alone
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    example = Path(__file__).resolve().parents[2] / "configs" / "nethack_motif_openai.yaml"
    cfg = load_config(example, ["judge.form=null", "runs_dir=/tmp/judgerl-test-unused"])
    with pytest.raises(ConfigError, match="judge.form"):
        validate_references(cfg)


def test_the_prompt_files_are_versioned_and_name_their_placeholders() -> None:
    for name in ("caption_pairs_motif_v1", "caption_pairs_short_v1"):
        text = load_prompt(name).text
        assert "$instruction" in text and "$message_1" in text and "$message_2" in text
    with pytest.raises(ValueError, match="does not exist"):
        load_prompt("prompts/no_such_goal_prompt.txt")


class _Keywords:
    """An encoder where similarity to the goal is the share of goal words in the text."""

    name = "keywords"
    vocab = ["kill", "gold", "stairs", "wall", "no", "message", "nothing", "happens"]

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        rows = np.array([[float(w in t.lower()) for w in self.vocab] + [0.1] for t in texts], np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_embedded_judge_prefers_the_message_closer_to_the_goal() -> None:
    task = _task()
    judge = EmbeddingJudge(ZeroShotConfig(goal_text="kill gold stairs", alpha=0.0), task, encoder=_Keywords())
    queries = [
        _pair("You kill the newt and take its gold.", "It's a wall."),
        _pair(NO_MESSAGE, "You see the stairs."),
        _pair("It's a wall.", "It's a wall!"),
    ]
    labels = judge.judge(task, queries)
    assert [lab.preference for lab in labels] == [1.0, 0.0, 0.5]  # equal scores: a tie
