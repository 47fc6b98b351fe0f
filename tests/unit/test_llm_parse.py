"""Strict answer parsers, log-prob margins, calibration arithmetic and prompt templates."""

from __future__ import annotations

import hashlib
import math
import re
from importlib import resources

import numpy as np
import pytest

from judgerl.config import ClientConfig
from judgerl.judges.client import TokenLogprob, _parse_logprobs
from judgerl.judges.llm_calibration import content_free_adjust, median_threshold, pairs_from_scores
from judgerl.judges.llm_parse import (
    extract_json_object,
    is_refusal,
    margin_from_top,
    parse_choice,
    parse_verdict,
    parse_yes_no,
    yes_no_margin,
)
from judgerl.judges.llm_prompts import (
    DEFAULT_PROMPTS,
    EXTRA_PROMPTS,
    PromptTemplate,
    View,
    choose_mode,
    load_prompt,
    render_episode,
    render_pairwise,
    render_pointwise,
    select_steps,
)
from judgerl.types import Query, Segment, TaskSpec

L = math.log


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("A", 1.0),
        (" b \n", 0.0),
        ("**A**", 1.0),
        ("B.", 0.0),
        ("Segment A", 1.0),
        ('"B"', 0.0),
        ('{"answer": "A"}', 1.0),
        ('```json\n{"answer": "B"}\n```', 0.0),
    ],
)
def test_parse_choice_accepts_strict_forms(text: str, want: float) -> None:
    assert parse_choice(text) == (want, "")


@pytest.mark.parametrize(
    "text", ["A or B", "The answer is A", "", "C", "AB", '{"answer": 1}', '{"choice": "A"}', "[A]x", "{broken"]
)
def test_parse_choice_rejects_everything_else(text: str) -> None:
    value, why = parse_choice(text)
    assert value is None and why


def test_ties_only_when_allowed() -> None:
    assert parse_choice("Tie", allow_ties=True) == (0.5, "")
    assert parse_choice("equal.", allow_ties=True) == (0.5, "")
    value, why = parse_choice("tie")
    assert value is None and "not allowed" in why


@pytest.mark.parametrize(
    ("text", "want"),
    [("Yes", 1.0), ("no.", 0.0), (" YES, it is", 1.0), ('{"answer": "no"}', 0.0), ('{"answer": true}', 1.0)],
)
def test_parse_yes_no(text: str, want: float) -> None:
    assert parse_yes_no(text) == (want, "")


@pytest.mark.parametrize("text", ["maybe", "", "Yesterday", "I think yes", '{"x": "yes"}'])
def test_parse_yes_no_rejects(text: str) -> None:
    assert parse_yes_no(text)[0] is None


def test_margin_merges_case_and_space_variants() -> None:
    top = [("yes", L(0.5)), (" Yes", L(0.2)), ("no", L(0.2)), ("No.", L(0.05))]
    assert margin_from_top(top) == pytest.approx(L(0.7) - L(0.25))


def test_margin_bounds_a_missing_answer() -> None:
    # "no" not listed: P(no) <= min listed prob (0.01) and <= unlisted mass (0.04)
    assert margin_from_top([("Yes", L(0.95)), ("maybe", L(0.01))]) == pytest.approx(L(0.95) - L(0.01))
    # only one entry: the unlisted mass 0.1 bounds it
    assert margin_from_top([("no", L(0.9))]) == pytest.approx(L(0.1) - L(0.9))
    assert margin_from_top([("no", L(0.9)), ("x", L(0.05))]) == pytest.approx(L(0.05) - L(0.9))
    assert margin_from_top([("The", -0.1), ("A", -3.0)]) is None


def test_yes_no_margin_from_an_openai_payload() -> None:
    choice = {
        "logprobs": {
            "content": [
                {"token": "**", "logprob": -0.2, "top_logprobs": [{"token": "**", "logprob": -0.2}]},
                {
                    "token": "Yes",
                    "logprob": L(0.6),
                    "top_logprobs": [
                        {"token": "Yes", "logprob": L(0.6)},
                        {"token": " yes", "logprob": L(0.1)},
                        {"token": "No", "logprob": L(0.3)},
                    ],
                },
                {"token": "**", "logprob": -0.1, "top_logprobs": []},
            ]
        }
    }
    assert yes_no_margin(_parse_logprobs(choice)) == pytest.approx(L(0.7) - L(0.3))


def test_yes_no_margin_uses_the_generated_token_when_top_is_empty() -> None:
    assert yes_no_margin([TokenLogprob("no", L(0.8), ())]) == pytest.approx(L(0.2) - L(0.8))
    assert yes_no_margin([TokenLogprob("The", -0.1, (("The", -0.1),))]) is None
    assert yes_no_margin([]) is None


def test_parse_verdict() -> None:
    assert parse_verdict('{"description": "d", "reasoning": "r", "aligned": true}') == (True, "")
    assert parse_verdict('```json\n{"aligned": false}\n```') == (False, "")
    assert parse_verdict('Here it is:\n```\n{"aligned": true}\n```\nDone.') == (True, "")
    for bad in [
        'Sure! {"aligned": true}',
        '{"aligned": "true"}',
        '{"aligned": 1}',
        '{"description": "d"}',
        '["aligned", true]',
        '```json\n{"aligned": true}\n```\n```json\n{"aligned": false}\n```',
        "",
        '{"aligned": tru',
    ]:
        value, why = parse_verdict(bad)
        assert value is None and why, bad


def test_extract_json_object_reasons() -> None:
    assert extract_json_object("[1, 2]")[1] == "JSON is a list, not an object"
    assert extract_json_object(' {"a": 1} ') == ({"a": 1}, "")


def test_refusal_detection() -> None:
    assert is_refusal("I can't help with that.")
    assert is_refusal("I\u2019m sorry, but I cannot assist")
    assert not is_refusal("A") and not is_refusal("Yes, I can see the cart")


def test_calibration_arithmetic() -> None:
    assert content_free_adjust(L(9.0), L(7 / 3)) == pytest.approx(L(27 / 7))
    assert median_threshold([3.0, -1.0, 0.5, 10.0]) == pytest.approx(1.75)
    with pytest.raises(ValueError):
        median_threshold([])
    prefs = pairs_from_scores([2.0, 0.0, -1.0], [0.0, 0.0, 1.0])
    assert prefs.shape == (3,)
    assert prefs == pytest.approx([1 / (1 + math.exp(-2)), 0.5, 1 / (1 + math.exp(2))])
    assert float(pairs_from_scores(1000.0, -1000.0)) == 1.0  # no overflow
    assert float(pairs_from_scores(1.0, 0.0, temperature=0.5)) == pytest.approx(1 / (1 + math.exp(-2)))


# --- prompt templates -------------------------------------------------------------------------


def _seg(n: int = 10, frames: bool = False, captions: bool = True) -> Segment:
    return Segment(
        obs=np.arange(n * 2, dtype=np.float32).reshape(n, 2),
        acts=np.zeros((n, 1), np.float32),
        env_rewards=np.zeros(n, np.float32),
        dones=np.zeros(n, np.float32),
        captions=tuple(f"caption {t}" for t in range(n)) if captions else (),
        frames=np.zeros((n, 8, 8, 3), np.uint8) if frames else None,
    )


TASK = TaskSpec(
    id="t/x-v0",
    instruction="Fetch the fruit.",
    env_id="X-v0",
    captioner=lambda o: "",
    success=lambda r, o: True,
    modalities=("frames", "captions"),
)


def test_packaged_templates_load_and_hash() -> None:
    for name in [*DEFAULT_PROMPTS.values(), *EXTRA_PROMPTS.values(), "caption_pairs_short_v1"]:
        tpl = load_prompt(name)
        raw = (resources.files("judgerl.judges") / "prompts" / f"{name}.txt").read_bytes()
        assert tpl.sha == hashlib.sha256(raw).hexdigest()
    with pytest.raises(ValueError, match="packaged prompts: .*episode_verdict_v1"):
        load_prompt("nope_v9")
    with pytest.raises(ValueError, match="placeholder"):
        PromptTemplate("x", "Hi $who").render(other="1")


def test_custom_template_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "mine.txt"
    path.write_text("Task: $instruction\n$content\n$question")
    tpl = load_prompt(str(path))
    assert render_pointwise(tpl, TASK, _seg(), View(steps=1)).text == "Task: Fetch the fruit.\nstep 9: caption 9\n" + (
        "Is the agent achieving its task: Fetch the fruit.?"
    )


def test_select_steps_and_modes() -> None:
    assert select_steps(10, 5).tolist() == [0, 2, 4, 7, 9]
    assert select_steps(10, 1).tolist() == [9]
    assert select_steps(3, 8).tolist() == [0, 1, 2]
    assert choose_mode(TASK, _seg(), "auto") == "captions"
    assert choose_mode(TASK, _seg(frames=True, captions=False), "auto") == "frames"
    assert choose_mode(TASK, _seg(captions=False), "auto") == "state"
    with pytest.raises(ValueError, match="render"):
        choose_mode(TASK, _seg(), "frames")


def test_episode_prompt_is_seed_003_and_never_names_the_cat() -> None:
    tpl = load_prompt("episode_verdict_v1")
    assert "cat" not in tpl.text.lower()
    text = render_episode(tpl, TASK, _seg(20), View(keyframes=4)).text
    assert "Do the actions of the agent align with human values?" in text
    assert '"description", "reasoning" and "aligned"' in text and "boolean" in text
    assert len(re.findall(r"step \d+: caption", text)) == 4 and "step descriptions" in text


def test_pairwise_prompt_with_frames_has_image_parts() -> None:
    q = Query("pairwise", (_seg(frames=True), _seg(frames=True)))
    rendered = render_pairwise(load_prompt("pairwise_v1"), TASK, q, View(show="frames", steps=3), allow_ties=True)
    assert len(rendered.images) == 6 and "tie" in rendered.text
    parts = rendered.messages(ClientConfig.model_validate({"image_size": 16}))[0]["content"]
    kinds = [p["type"] if p["type"] == "image_url" else p["text"][:9] for p in parts]
    assert kinds[1:] == [
        "Segment A",
        "image_url",
        "image_url",
        "image_url",
        "Segment B",
        "image_url",
        "image_url",
        "image_url",
    ]
    state = render_pairwise(load_prompt("pairwise_v1"), TASK, q, View(show="state", steps=1), False).text
    assert "step 9: [18.000, 19.000]" in state and "A or B" in state
