"""Async client for OpenAI-compatible chat servers (OpenAI, vLLM, Ollama, llama.cpp, SGLang).

One :class:`ChatClient` sends many chat requests concurrently on one event loop:
a semaphore bounds the requests in flight, a token bucket holds the requests-
and tokens-per-minute limits, a :class:`~judgerl.judges.client_budget.Budget`
is checked before every request, and transient failures are retried with
exponential backoff and full jitter (the AWS Architecture Blog scheme),
honouring ``Retry-After``. A failure never raises: :meth:`ChatClient.chat`
returns a :class:`ChatResult` whose ``error`` says what went wrong.

``base_url`` may list several endpoints (replicas of one model): each has its
own concurrency slots and rpm/tpm limits, requests go to the least busy healthy
one, and a request that fails transiently on one is resent at once to another
(a *failover*, up to one per other endpoint, without using its retries); the
budget, the learned capabilities and the retry policy stay one per client
(:mod:`judgerl.judges.client_endpoints`).

Outcomes, per attempt:

- 429, 408, 409, 5xx, timeout, connection error: retried up to ``max_retries``
  times, then a ``transient`` failure.
- 200 with a body that is not a chat completion (malformed JSON): retried like a
  5xx -- nothing usable arrived and a retry usually succeeds -- then transient.
- 400/422 whose error names ``logprobs`` or ``response_format`` (one that was
  sent): the server lacks that feature; only the named option is dropped
  (remembered for later calls) and the request is sent once more. With
  ``logprobs_required`` a rejected ``logprobs`` stops instead (see below). A
  400 that names neither (e.g. a prompt over the context length) is a plain
  permanent failure and drops nothing.
- 401/403/407, 404/405/410 and 3xx: configuration errors (wrong key, no
  access, wrong model or ``base_url``, a moved URL). The result has
  ``config_error`` set and a message naming the cause, and the client *halts*:
  every later call in the session returns the same error without sending, so
  a run stops after at most the requests already in flight
  (:mod:`judgerl.judges.client_errors`).
- other 4xx: a permanent failure (retrying cannot help).
- 200: returned as is; refusals, empty or truncated answers are for the judge
  to interpret (``refusal``, ``text``, ``finish_reason``).

The API key is read from the environment variable named by
``ClientConfig.api_key_env`` when a session opens, goes only into the
``Authorization`` header, and is redacted from every error text.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from judgerl.config import ClientConfig, PriceConfig
from judgerl.judges.client_budget import BUDGET_EXHAUSTED, Budget, cost_usd
from judgerl.judges.client_endpoints import TRANSIENT_KINDS, Endpoint, EndpointPool
from judgerl.judges.client_errors import (
    CONFIG_KINDS,
    classify_status,
    config_error_message,
    error_detail,
    logprobs_missing_message,
    named_options,
)
from judgerl.judges.client_media import estimate_prompt_tokens, strip_private, text_tokens
from judgerl.judges.client_result import ChatResult, TokenLogprob, _parse_logprobs  # noqa: F401 (re-exported)
from judgerl.judges.client_retry import backoff_delay, parse_retry_after

_TRANSIENT = TRANSIENT_KINDS


@dataclass
class _Attempt:
    # ok | rate_limited | server_error | timeout | connection | malformed | bad_request | client_error
    # | auth | not_found | redirect
    kind: str
    error: str = ""
    detail: str = ""  # lower-cased error message + param of a 400, searched for option names
    data: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None


def _billed(attempt: _Attempt, est_in: int) -> tuple[int, int, bool]:
    """``(prompt, completion, reported)`` tokens of one attempt.

    An answer without a usable ``usage`` is counted at the estimates; failed
    attempts without usage at 0 (nothing says what was billed).
    """
    usage = attempt.data.get("usage")
    try:
        return int(usage["prompt_tokens"]), int(usage["completion_tokens"]), True  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        pass
    if attempt.kind != "ok":
        return 0, 0, False
    content = attempt.data["choices"][0]["message"].get("content")
    return est_in, text_tokens(content if isinstance(content, str) else ""), False


class ChatClient:
    """Concurrent, rate-limited, budgeted chat completions.

    Use inside ``async with client:`` (one session per event loop); the limiter,
    the budget and the learned server capabilities persist across sessions.

    Args:
        cfg: Server, model, concurrency, retries, limits and sampling.
        price: Token prices for cost accounting (default: free).
        budget: Spending limits shared by every call (default: unlimited).
        seed: Seed of the backoff jitter.
        transport: Optional httpx transport (tests).

    Attributes:
        unsupported: Request options the server rejected (``logprobs``, ``json_mode``).
        stop_reason: Why the client halted (a configuration error); ``""``
            while it sends. Reset when a session opens.
        stats: Running counters under ``judge/...`` keys (see :meth:`metrics`).
    """

    def __init__(
        self,
        cfg: ClientConfig,
        price: PriceConfig | None = None,
        budget: Budget | None = None,
        *,
        seed: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.cfg = cfg
        self.price = price if price is not None else PriceConfig.model_validate({})
        self.budget = budget if budget is not None else Budget()
        self.pool = EndpointPool(cfg.urls, cfg.concurrency, cfg.rpm, cfg.tpm, cfg.backoff_base_s, cfg.backoff_max_s)
        self.unsupported: set[str] = set()
        self.stop_reason = ""
        self.stats: dict[str, float] = {}
        self._rng = random.Random(seed)
        self._prompt_ratio = 1.0
        self._transport = transport
        self._open = False

    async def __aenter__(self) -> ChatClient:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.cfg.api_key_env, "")
        if key:  # local servers need none: then no Authorization header at all
            headers["Authorization"] = f"Bearer {key}"
        self.pool.open(headers, self.cfg.timeout_s, self._transport)
        self._open = True
        self.stop_reason = ""  # a new session (e.g. after the key was fixed) may try again
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.pool.aclose()
        self._open = False

    def _count(self, key: str, amount: float = 1.0) -> None:
        self.stats[key] = self.stats.get(key, 0.0) + amount

    def metrics(self) -> dict[str, float]:
        """Counters so far: ``judge/http_requests``, ``judge/http_retries``, ``judge/tokens_in``, ... (copies)."""
        return dict(self.stats)

    def halt(self, reason: str) -> None:
        """Refuse every later call of this session with ``reason`` (a configuration error).

        Calls waiting for a concurrency slot return at once without sending,
        so a run that must stop does not pay for the rest of its batch.

        Args:
            reason: The message later calls return as their ``error``.
        """
        if not self.stop_reason:
            self.stop_reason = reason

    def redact(self, text: str) -> str:
        """``text`` with the API key (if any) replaced by ``***``."""
        key = os.environ.get(self.cfg.api_key_env, "")
        return text.replace(key, "***") if key else text

    async def _send(self, ep: Endpoint, payload: dict[str, Any]) -> _Attempt:
        assert ep.http is not None
        try:
            r = await ep.http.post("chat/completions", json=payload)
        except httpx.TimeoutException:
            return _Attempt("timeout", f"timeout after {self.cfg.timeout_s:g}s")
        except httpx.TransportError as e:
            return _Attempt("connection", f"connection error: {type(e).__name__}")
        snippet = self.redact(r.text[:300])
        if r.status_code >= 300:
            kind = classify_status(r.status_code)
            error = f"HTTP {r.status_code}: {snippet}"
            if kind in CONFIG_KINDS:
                key_set = bool(os.environ.get(self.cfg.api_key_env, ""))
                location = self.redact(r.headers.get("location", ""))
                error = config_error_message(kind, r.status_code, self.cfg, snippet, key_set, location, ep.url)
            detail = self.redact(error_detail(r.text[:4000])) if kind == "bad_request" else ""
            retry_after = parse_retry_after(r.headers) if kind in ("rate_limited", "server_error") else None
            return _Attempt(kind, error, detail=detail, retry_after=retry_after)
        try:
            data = r.json()
            message = data["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return _Attempt("malformed", f"malformed response ({type(e).__name__}): {snippet[:120]}")
        return _Attempt("ok", data=data)

    def _payload(
        self, messages: list[dict[str, Any]], logprobs: bool, top: int, json_mode: bool, max_tokens: int
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": messages,
            "temperature": self.cfg.temperature,
            "max_tokens": max_tokens,
        }
        if logprobs:
            payload["logprobs"] = True
            if top > 0:
                payload["top_logprobs"] = top
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        return payload

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        logprobs: bool = False,
        top_logprobs: int = 0,
        json_mode: bool = False,
        max_tokens: int | None = None,
        logprobs_required: bool = False,
    ) -> ChatResult:
        """Send one chat request, with retries, limits and budget.

        Args:
            messages: OpenAI chat messages (text or text + image parts).
            logprobs: Ask for token log-probs (dropped if the server rejects it).
            top_logprobs: Alternatives per token (0..20).
            json_mode: Ask for a JSON object (``response_format``).
            max_tokens: Completion limit; default ``cfg.max_tokens``.
            logprobs_required: The caller cannot use an answer without
                log-probs: a server that rejects ``logprobs``, or answers text
                without them, gives a ``config_error`` result (and halts the
                client) instead of a resend or an answer without them.

        Returns:
            The result; never raises for server or network failures.

        Raises:
            RuntimeError: Called outside ``async with client:``.
        """
        if not self._open:
            raise RuntimeError("ChatClient.chat must run inside `async with client:`")
        t0 = time.monotonic()
        limit = max_tokens if max_tokens is not None else self.cfg.max_tokens
        # projections scale the chars/4 estimate by the largest billed/estimated ratio seen so far,
        # so once the server has reported usage they are upper bounds for similar prompts
        est_in = math.ceil(estimate_prompt_tokens(messages) * self._prompt_ratio)
        projected = est_in + limit
        body = strip_private(messages)
        sent = transient_retries = failovers = tokens_in = tokens_out = 0
        failed_on: Endpoint | None = None  # where the last attempt failed transiently: try another first
        cost = 0.0
        dropped: list[str] = []

        def result(**kw: Any) -> ChatResult:
            return ChatResult(
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
                latency_s=time.monotonic() - t0,
                retries=max(0, sent - 1),
                requests=sent,
                dropped_params=tuple(dropped),
                **kw,
            )

        while True:
            ep = await self.pool.acquire(projected, avoid=failed_on)
            sent_now: _Attempt | None = None
            try:
                if self.stop_reason:  # another call found the configuration wrong: send nothing more
                    return result(error=self.stop_reason, config_error=True)
                # decided once a slot is ours, so capabilities learned by other calls meanwhile apply
                want_lp = logprobs and "logprobs" not in self.unsupported
                if logprobs and logprobs_required and not want_lp:  # learned earlier: asking is pointless
                    reason = logprobs_missing_message(self.cfg, "it rejected them earlier in this run")
                    self.halt(reason)
                    return result(error=reason, config_error=True)
                want_json = json_mode and "json_mode" not in self.unsupported
                payload = self._payload(body, want_lp, top_logprobs, want_json, limit)
                # one budget for every endpoint: reserved per attempt, whichever replica sends it
                reservation = self.budget.reserve(projected, cost_usd(self.price, est_in, limit))
                if reservation is None:
                    self._count("judge/budget_refusals")
                    return result(
                        error=f"{BUDGET_EXHAUSTED} ({self.budget.reason})", transient=True, budget_exhausted=True
                    )
                self._count("judge/rate_wait_s", await ep.limiter.acquire(projected))
                self._count("judge/http_requests")
                self._count("judge/http_retries", float(sent > 0))
                if len(self.pool) > 1:
                    self._count(f"judge/endpoint_{ep.index}_requests")
                sent += 1
                sent_now = await self._send(ep, payload)
            finally:  # the slot is freed however the attempt ended; only a sent one tells the endpoint's health
                if sent_now is not None and sent_now.kind in CONFIG_KINDS:
                    # halt before the slot is freed: freeing it can let a waiting call run before the halt
                    # below, and that call would send a request the configuration already doomed
                    self.halt(sent_now.error)
                kind = sent_now.kind if sent_now is not None else "not_sent"
                await self.pool.release(ep, kind, sent_now.retry_after if sent_now is not None else None)
            attempt = sent_now
            b_in, b_out, reported = _billed(attempt, est_in)
            if reported and est_in > 0:
                self._prompt_ratio = max(self._prompt_ratio, self._prompt_ratio * b_in / est_in)
            b_cost = cost_usd(self.price, b_in, b_out)
            self.budget.settle(reservation, b_in + b_out, b_cost)
            ep.limiter.refund(projected - (b_in + b_out))
            tokens_in, tokens_out, cost = tokens_in + b_in, tokens_out + b_out, cost + b_cost
            self._count("judge/tokens_in", b_in)
            self._count("judge/tokens_out", b_out)
            self._count("judge/cost_usd", b_cost)
            self._count(f"judge/http_{attempt.kind}")

            if attempt.kind == "ok":
                choice = attempt.data["choices"][0]
                message = choice["message"]
                content = message.get("content")
                text = content if isinstance(content, str) else ""
                lps = _parse_logprobs(choice)
                if logprobs_required and want_lp and text.strip() and not lps:
                    # a server that ignores the option: halt here, before a waiting call is sent
                    self.unsupported.add("logprobs")
                    reason = logprobs_missing_message(self.cfg, "its answers carry none although asked for")
                    self.halt(reason)
                    return result(error=reason, config_error=True)
                return result(
                    text=text,
                    refusal=str(message.get("refusal") or ""),
                    finish_reason=str(choice.get("finish_reason") or ""),
                    logprobs=lps,
                )
            if attempt.kind in CONFIG_KINDS:
                self.halt(attempt.error)
                return result(error=attempt.error, config_error=True)
            if attempt.kind == "bad_request":
                # capability detection: drop only what the error names; each pass drops an option
                # that was sent, so this resends at most twice
                drop = named_options(attempt.detail, {"logprobs": want_lp, "json_mode": want_json})
                if drop:
                    self.unsupported.update(drop)
                    dropped.extend(drop)
                    if "logprobs" in drop and logprobs_required:
                        reason = logprobs_missing_message(self.cfg, f"it rejected them: {attempt.error}")
                        self.halt(reason)
                        return result(error=reason, config_error=True)
                    continue
            transient = attempt.kind in _TRANSIENT
            if transient and len(self.pool) > 1:
                self._count(f"judge/endpoint_{ep.index}_failures")
                failed_on = ep
                if failovers < len(self.pool) - 1 and self.pool.healthy_other(ep):
                    failovers += 1  # another replica may answer now: no backoff, no retry used
                    self._count("judge/endpoint_failovers")
                    continue
            if transient and transient_retries < self.cfg.max_retries:
                transient_retries += 1
                delay = backoff_delay(
                    transient_retries, self.cfg.backoff_base_s, self.cfg.backoff_max_s, attempt.retry_after, self._rng
                )
                await asyncio.sleep(delay)
                continue
            return result(error=attempt.error, transient=transient)
