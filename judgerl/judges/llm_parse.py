"""Strict parsers for judge answers: A/B choices, yes/no, log-prob margins, JSON verdicts.

Every parser returns ``(value, reason)``: ``value`` is ``None`` when the answer
does not say what was asked, and ``reason`` then says why. Callers turn that
into a ``failed`` label with the raw text kept -- never a tie or a zero.
Plain functions, usable by any chat judge (HTTP or local GGUF).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, Protocol

_FENCE = re.compile(r"```(?:json)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_DECOR = " \t\r\n*`'\"_"  # markdown emphasis and quotes around a one-word answer
_REFUSAL_STARTS = (
    "i can't",
    "i cannot",
    "i can not",
    "i won't",
    "i'm sorry",
    "i am sorry",
    "sorry, i",
    "i'm unable",
    "i am unable",
    "i'm not able",
    "i am not able",
)
_TIES = ("tie", "equal", "neither", "same")
_MISSING_FLOOR = 1e-6  # probability floor for an answer absent from the top log-probs


class _TokenLogprob(Protocol):
    @property
    def token(self) -> str: ...

    @property
    def logprob(self) -> float: ...

    @property
    def top(self) -> tuple[tuple[str, float], ...]: ...


def is_refusal(text: str) -> bool:
    """True when ``text`` reads like a refusal ("I can't help with that")."""
    norm = text.strip().lower().replace("\u2019", "'")
    return norm.startswith(_REFUSAL_STARTS)


def extract_json_object(text: str) -> tuple[dict[str, Any] | None, str]:
    """The JSON object that is the whole answer, or the one fenced ```json block.

    Text around a single fenced block is allowed; unfenced JSON with text
    around it is not (the answer did not follow the format).

    Returns:
        ``(object, "")`` or ``(None, reason)``.
    """
    body = text.strip()
    fences = _FENCE.findall(body)
    if len(fences) > 1:
        return None, f"{len(fences)} fenced blocks, expected one JSON object"
    if fences:
        body = fences[0].strip()
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        return None, "not a JSON object"
    if not isinstance(obj, dict):
        return None, f"JSON is a {type(obj).__name__}, not an object"
    return obj, ""


def _one_word(text: str) -> str:
    word = text.strip().strip(_DECOR).rstrip(".!").strip(_DECOR).lower()
    return re.sub(r"\s+", " ", word)


def parse_choice(text: str, allow_ties: bool = False) -> tuple[float | None, str]:
    """Parse a pairwise answer into the preference for segment A.

    Accepted: ``A`` / ``B`` (optionally ``Segment A``, quotes, bold, a final
    period) or ``{"answer": "A"}``; ``tie`` / ``equal`` only when ``allow_ties``.

    Returns:
        ``(1.0, "")`` for A, ``(0.0, "")`` for B, ``(0.5, "")`` for an allowed
        tie, else ``(None, reason)``.
    """
    answer = text
    if text.strip().startswith(("{", "```")):
        obj, why = extract_json_object(text)
        if obj is None:
            return None, why
        if not isinstance(obj.get("answer"), str):
            return None, "JSON answer lacks a string 'answer'"
        answer = obj["answer"]
    word = _one_word(answer)
    word = word.removeprefix("segment ").strip()
    if word == "a":
        return 1.0, ""
    if word == "b":
        return 0.0, ""
    if word in _TIES:
        return (0.5, "") if allow_ties else (None, "tie given but ties are not allowed")
    return None, "answer is not A or B"


_BEST = re.compile(r"best_description\W{0,6}(1|2|tie|none|null|equal|neither)\b", re.IGNORECASE)
_CAPTION_WORDS = {"1": 1.0, "2": 0.0, "tie": 0.5, "none": 0.5, "equal": 0.5, "neither": 0.5}


def parse_caption_choice(text: str) -> tuple[float | None, str]:
    """Parse a caption-pair answer (Motif's format) into the preference for the first message.

    Accepted: the last ``("best_description": 1 | 2 | tie)`` declaration in the
    text (after a chain of thought; ``None`` counts as a tie, as Motif's
    prompt had it), or a one-word answer ``1``, ``2`` or ``tie``.

    Returns:
        ``(1.0, "")`` for 1, ``(0.0, "")`` for 2, ``(0.5, "")`` for a tie, else ``(None, reason)``.
    """
    found = _BEST.findall(text)
    word = found[-1].lower() if found else _one_word(text).removeprefix("description").strip(" _:")
    if word in _CAPTION_WORDS:
        return _CAPTION_WORDS[word], ""
    return None, 'answer declares neither 1, 2 nor tie (expected ("best_description": 1|2|tie))'


def parse_yes_no(text: str) -> tuple[float | None, str]:
    """Parse a yes/no answer: its first word (or ``{"answer": "yes"}``) → 1.0 / 0.0."""
    answer = text
    if text.strip().startswith(("{", "```")):
        obj, why = extract_json_object(text)
        if obj is None or not isinstance(obj.get("answer"), str | bool):
            return None, why or "JSON answer lacks 'answer'"
        raw = obj["answer"]
        answer = ("yes" if raw else "no") if isinstance(raw, bool) else raw
    first = _one_word(answer).split(" ")[0].strip(",;:.!")
    if first == "yes":
        return 1.0, ""
    if first == "no":
        return 0.0, ""
    return None, "answer is not yes or no"


def _logsumexp(xs: Sequence[float]) -> float:
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def margin_from_top(top: Sequence[tuple[str, float]]) -> float | None:
    """``log P(yes) − log P(no)`` from one position's top log-probs.

    Variants differing in case, surrounding spaces or punctuation (``Yes``,
    ``" yes"``, ``YES.``) are merged with logsumexp. When only one of the two
    answers is listed, the other's probability is bounded by both the smallest
    listed probability and the unlisted mass, floored at 1e-6, so the margin is
    a finite conservative estimate.

    Returns:
        The margin in nats, or ``None`` when neither answer is listed.
    """
    groups: dict[str, list[float]] = {"yes": [], "no": []}
    for token, lp in top:
        key = token.strip().strip(_DECOR + ".,!:").lower()
        if key in groups and math.isfinite(lp):
            groups[key].append(lp)
    if not groups["yes"] and not groups["no"]:
        return None
    listed = [lp for _, lp in top if math.isfinite(lp)]
    unlisted = max(1.0 - sum(math.exp(lp) for lp in listed), _MISSING_FLOOR)
    bound = math.log(max(min(min(math.exp(lp) for lp in listed), unlisted), _MISSING_FLOOR))
    yes = _logsumexp(groups["yes"]) if groups["yes"] else bound
    no = _logsumexp(groups["no"]) if groups["no"] else bound
    return yes - no


def yes_no_margin(logprobs: Sequence[_TokenLogprob], max_skip: int = 3) -> float | None:
    """The yes/no log-prob margin at the first word-like generated token.

    Positions whose generated token has no letter or digit (spaces, ``**``,
    quotes) are skipped, at most ``max_skip`` of them.

    Args:
        logprobs: Per generated token, with ``token`` and ``top`` alternatives.
        max_skip: Leading non-word tokens to skip.

    Returns:
        ``log P(yes) − log P(no)`` in nats, or ``None`` (no log-probs, or the
        answer does not start with yes or no).
    """
    for i, item in enumerate(logprobs):
        if i > max_skip:
            return None
        if not any(ch.isalnum() for ch in item.token):
            continue
        top = list(item.top)
        if not any(t == item.token for t, _ in top):
            top.append((item.token, item.logprob))
        return margin_from_top(top)
    return None


def parse_verdict(text: str, key: str = "aligned") -> tuple[bool | None, str]:
    """Parse seed 003's episode verdict: a JSON object whose ``key`` is a JSON boolean.

    Returns:
        ``(True/False, "")`` or ``(None, reason)`` (not JSON, extra text
        around unfenced JSON, key missing, or not a boolean such as ``"true"``).
    """
    obj, why = extract_json_object(text)
    if obj is None:
        return None, why
    if key not in obj:
        return None, f"JSON object has no {key!r} key"
    value = obj[key]
    if not isinstance(value, bool):
        return None, f"{key!r} must be a JSON boolean, got {json.dumps(value)}"
    return value, ""
