"""A fake-server responder that judges Pendulum pairs by the captions in the prompt (a stand-in for an LLM judge).

:func:`caption_height_responder` plays the part of a chat model that reads the
pairwise prompt (``judgerl/judges/prompts/pairwise_v1.txt``) as a person would:
it finds the step captions under ``Segment A:`` and ``Segment B:``, scores each
caption by its height words (``pendulum_caption`` in ``judgerl/tasks/classic.py``:
upright > nearly upright > raised high > roughly horizontal > hanging low >
hanging straight down), and answers the segment whose captions are higher on
average, in the prompt's own answer format: ``A`` or ``B``, and ``tie`` when the
scores are equal and the prompt allows ties. It sees only what an LLM would see
(the prompt text, never the true reward), so labels bought through it cost what
an honest caption reader's labels cost; it is *not* an LLM: it reads height only
(not speed or side) and never errs. Prompts it does not recognise get the fake
server's :func:`default_responder` answer.

Use: ``FakeOpenAIServer(latency_s=2.0, responder=caption_height_responder)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from judgerl.testing.fake_openai_payloads import default_responder, request_text

# Longest phrase first: "nearly upright" must not be read as "upright".
HEIGHT_WORDS: tuple[tuple[str, float], ...] = (
    ("hanging straight down", 0.0),
    ("hanging low", 1.0),
    ("roughly horizontal", 2.0),
    ("raised high", 3.0),
    ("nearly upright", 4.0),
    ("upright", 5.0),
)
_SEGMENTS = re.compile(r"Segment A:\n(?P<a>.*?)\n\s*\nSegment B:\n(?P<b>.*?)\n\s*\n", re.S)


def caption_height(caption: str) -> float | None:
    """Height score of one Pendulum caption: 5 (upright) to 0 (hanging straight down); ``None`` if it names none."""
    text = caption.lower()
    for phrase, score in HEIGHT_WORDS:
        if phrase in text:
            return score
    return None


def segment_height(lines: Sequence[str]) -> float | None:
    """Mean height score of a segment's caption lines (``step i: the pendulum is ...``); ``None`` if none scored."""
    scores = [s for s in (caption_height(line) for line in lines) if s is not None]
    return sum(scores) / len(scores) if scores else None


def caption_height_responder(request: Mapping[str, Any]) -> str:
    """Answer a pairwise Pendulum prompt with the segment whose captions show the pendulum higher.

    Args:
        request: The chat-completions request JSON.

    Returns:
        ``"A"``, ``"B"``, or ``"tie"`` (equal heights, and the prompt allows ties; where it
        does not, equal heights answer ``"A"``, the fixed first choice a model without a
        preference would make); the default answer for prompts that are not pairwise.
    """
    text = request_text(request)
    match = _SEGMENTS.search(text)
    if match is None:
        return default_responder(request)
    a = segment_height(match["a"].splitlines())
    b = segment_height(match["b"].splitlines())
    if a is None or b is None:
        return default_responder(request)
    if a > b:
        return "A"
    if b > a:
        return "B"
    return "tie" if "or tie" in text else "A"
