"""caption_height_responder on real Pendulum pairwise prompts, alone and behind the fake server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from judgerl.config import ClientConfig
from judgerl.judges.llm import ChatJudge
from judgerl.judges.llm_prompts import View, load_prompt, render_pairwise
from judgerl.tasks import get_task
from judgerl.testing.caption_responder import caption_height, caption_height_responder
from judgerl.testing.fake_openai import FakeOpenAIServer
from judgerl.types import Query, Segment

TASK = get_task("pendulum/swingup-v0")
TEMPLATE = load_prompt("pairwise_v1")


def _seg(degrees: float, n: int = 25) -> Segment:
    """A Pendulum segment held at ``degrees`` from upright, captioned by the task's own captioner."""
    th = math.radians(degrees)
    obs = np.tile(np.array([math.cos(th), math.sin(th), 0.0], np.float32), (n, 1))
    return Segment(
        obs=obs,
        acts=np.zeros((n, 1), np.float32),
        env_rewards=np.zeros(n, np.float32),
        dones=np.zeros(n, np.float32),
        captions=tuple(TASK.captioner(o) for o in obs),
        episode_id=f"deg{degrees}",
    )


def _ask(a: Segment, b: Segment, allow_ties: bool) -> str:
    text = render_pairwise(TEMPLATE, TASK, Query("pairwise", (a, b)), View(), allow_ties).text
    return str(caption_height_responder({"messages": [{"role": "user", "content": text}]}))


def test_every_height_word_of_the_captioner_is_ranked_in_order() -> None:
    # One angle per caption band of pendulum_caption, from hanging down to upright: strictly rising scores.
    scores = [
        caption_height(TASK.captioner(np.array([math.cos(math.radians(d)), math.sin(math.radians(d)), 0.0])))
        for d in (180, 130, 90, 50, 20, 0)
    ]
    assert scores == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(("deg_a", "deg_b", "want"), [(5, 20, "A"), (20, 5, "B"), (170, 100, "B"), (60, 120, "A")])
def test_the_higher_segment_wins_in_either_position(deg_a: float, deg_b: float, want: str) -> None:
    assert _ask(_seg(deg_a), _seg(deg_b), allow_ties=False) == want


def test_equal_heights_tie_only_where_the_prompt_allows_it() -> None:
    # 175 and 165 degrees are both "hanging straight down" (one caption band): equal scores.
    assert _ask(_seg(175), _seg(165), allow_ties=True) == "tie"
    assert _ask(_seg(175), _seg(165), allow_ties=False) == "A"


def test_a_segment_is_scored_by_the_mean_of_its_shown_captions() -> None:
    # A swings from hanging down to upright (mean of the 5 shown steps ~2.4); B stays horizontal (2.0).
    n = 25
    ths = np.radians(np.linspace(180, 0, n))
    obs = np.stack([np.cos(ths), np.sin(ths), np.zeros(n)], 1).astype(np.float32)
    swing = Segment(
        obs,
        np.zeros((n, 1), np.float32),
        np.zeros(n, np.float32),
        np.zeros(n, np.float32),
        tuple(TASK.captioner(o) for o in obs),
    )
    assert _ask(swing, _seg(90), allow_ties=True) == "A"
    assert _ask(_seg(90), swing, allow_ties=True) == "B"


def test_labels_through_the_chat_judge_follow_the_heights() -> None:
    queries = [
        Query("pairwise", (_seg(10), _seg(150))),
        Query("pairwise", (_seg(150), _seg(10))),
        Query("pairwise", (_seg(175), _seg(165))),
    ]
    with FakeOpenAIServer(responder=caption_height_responder) as srv:
        cfg = ClientConfig.model_validate(
            {"base_url": srv.base_url, "model": "m", "api_key_env": "JUDGERL_NO_SUCH_KEY", "logprobs": False}
        )
        labels = ChatJudge(cfg, form="pairwise", allow_ties=True).judge(TASK, queries)
    assert [lab.status for lab in labels] == ["ok"] * 3
    assert [lab.preference for lab in labels] == [1.0, 0.0, 0.5]


def test_prompts_that_are_not_pairwise_get_the_default_answer() -> None:
    assert caption_height_responder({"messages": [{"role": "user", "content": "Is it upright? yes or no"}]}) == "yes"
