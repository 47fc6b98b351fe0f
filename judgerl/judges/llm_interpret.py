"""How a chat judge turns the server's answers to one query into a label's status and value.

Pure functions over :class:`~judgerl.judges.client.ChatResult`, split from
``llm.py`` (prompting, sending, bookkeeping). The rule: a truncated, refused,
empty or unparseable answer is never a label -- ``failed`` (or ``abstain``
for refusals) with the raw text kept -- whatever its log-probs say.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from judgerl.judges.base import JudgeConfigError
from judgerl.judges.client import ChatResult
from judgerl.judges.client_errors import logprobs_missing_message
from judgerl.judges.config import ClientConfig
from judgerl.judges.llm_calibration import pairs_from_scores
from judgerl.judges.llm_parse import (
    is_refusal,
    parse_caption_choice,
    parse_choice,
    parse_verdict,
    parse_yes_no,
    yes_no_margin,
)
from judgerl.types import LabelStatus, Provenance, QueryKind


@dataclass(frozen=True)
class Outcome:
    """What a label says, without its provenance.

    Attributes:
        status: ``ok``, ``abstain`` or ``failed``.
        error: Why it is not ``ok`` (``""`` when it is).
        transient: Asking again later may succeed.
        preference: Preference for segment A (pairwise), else ``None``.
        value: Score or verdict (pointwise, episode), else ``None``.
    """

    status: LabelStatus
    error: str = ""
    transient: bool = False
    preference: float | None = None
    value: float | None = None


def score_yes_no(res: ChatResult, cfg: ClientConfig, offset: float = 0.0) -> tuple[float | None, str]:
    """Pointwise value of one answer: ``(value, "")``, or ``(None, why)`` when it is no label.

    The answer must be complete (not ``finish_reason=length``), non-empty and
    start with yes or no. With ``cfg.logprobs`` the value is the first answer
    token's ``log P(yes) − log P(no)`` minus ``offset`` -- never the 0/1 parse,
    so one judge id keeps one scale; without, the parse (yes=1, no=0).

    Args:
        res: One successful answer.
        cfg: The client configuration (scoring mode, ``max_tokens``, ``top_logprobs``).
        offset: Content-free calibration margin to subtract (log-prob mode).

    Returns:
        ``(value, "")`` or ``(None, reason)``.

    Raises:
        JudgeConfigError: Log-prob mode and the answer carries no log-probs
            (the server ignores them, so every answer would).
    """
    if res.finish_reason == "length":
        return None, f"truncated answer (finish_reason=length; judge.client.max_tokens={cfg.max_tokens})"
    if not res.text.strip():
        return None, "empty answer"
    parsed, why = parse_yes_no(res.text)
    if parsed is None:
        return None, why
    if not cfg.logprobs:
        return parsed, ""
    if not res.logprobs:
        raise JudgeConfigError(logprobs_missing_message(cfg, "its answers carry none although asked for"))
    margin = yes_no_margin(res.logprobs)
    if margin is None:
        return None, f"neither yes nor no among the first answer token's top-{cfg.top_logprobs} log-probs"
    return margin - offset, ""


def interpret(
    results: Sequence[ChatResult], form: QueryKind, cfg: ClientConfig, allow_ties: bool, offset: float = 0.0
) -> Outcome:
    """The label outcome of one query's answers (two for a pair scored segment by segment).

    Args:
        results: The answers, in segment order.
        form: The form asked: ``pairwise``, ``pointwise``, ``episode`` or ``caption_pairs``.
        cfg: The client configuration.
        allow_ties: Pairwise "tie" is a valid answer (preference 0.5).
        offset: Content-free calibration margin (pointwise, log-prob mode).

    Returns:
        The outcome.

    Raises:
        JudgeConfigError: An answer shows the configuration is wrong
            (``config_error``, or no log-probs for a log-prob judge).
    """
    config = next((r for r in results if r.config_error), None)
    if config is not None:
        raise JudgeConfigError(config.error)
    bad = next((r for r in results if r.error), None)
    if bad is not None:
        return Outcome("failed", bad.error, transient=bad.transient)
    if any(r.refusal or is_refusal(r.text) for r in results):
        return Outcome("abstain", "refusal")
    if form == "pointwise":
        scored = [score_yes_no(r, cfg, offset) for r in results]
        values = [v for v, _ in scored if v is not None]
        if len(values) < len(scored):
            return Outcome("failed", next(why for v, why in scored if v is None))
        if len(values) == 2:  # a pair judged by scoring each segment
            return Outcome("ok", preference=float(pairs_from_scores(values[0], values[1])))
        return Outcome("ok", value=values[0])
    res = results[0]
    if res.finish_reason == "length":
        return Outcome("failed", "truncated answer (finish_reason=length)")
    if not res.text.strip():
        return Outcome("failed", "empty answer")
    if form == "pairwise":
        pref, why = parse_choice(res.text, allow_ties)
        return Outcome("ok", preference=pref) if pref is not None else Outcome("failed", why)
    if form == "caption_pairs":  # 1, 2 or tie (ties are part of the form)
        pref, why = parse_caption_choice(res.text)
        return Outcome("ok", preference=pref) if pref is not None else Outcome("failed", why)
    verdict, why = parse_verdict(res.text)
    return Outcome("ok", value=float(verdict)) if verdict is not None else Outcome("failed", why)


def provenance(
    results: Sequence[ChatResult],
    judge_id: str,
    model: str,
    prompt_sha: str,
    outcome: Outcome,
    redact: Callable[[str], str],
) -> Provenance:
    """The provenance of one query's label: its answers' raw text (A/B-prefixed for two), tokens, cost, errors.

    Args:
        results: The query's answers, in segment order.
        judge_id: ``Judge.id``.
        model: The model name the client asked for.
        prompt_sha: The template's sha.
        outcome: What :func:`interpret` made of the answers (its error and transient flag are kept).
        redact: Removes secrets (the API key) from stored text.
    """
    raws = [r.text or r.refusal for r in results]
    raw = raws[0] if len(raws) == 1 else "\n".join(f"{n}: {t}" for n, t in zip("AB", raws, strict=False))
    return Provenance(
        judge_id=judge_id,
        model=model,
        prompt_sha=prompt_sha,
        raw_response=redact(raw),
        tokens_in=sum(r.tokens_in for r in results),
        tokens_out=sum(r.tokens_out for r in results),
        cost_usd=sum(r.cost_usd for r in results),
        latency_s=max(r.latency_s for r in results),
        retries=sum(r.retries for r in results),
        error=redact(outcome.error),
        transient=outcome.transient,
        requests=sum(r.requests for r in results),
    )
