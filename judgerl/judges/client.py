"""Async client for OpenAI-compatible chat servers (OpenAI, vLLM, Ollama, llama.cpp, SGLang).

One :class:`ChatClient` sends many chat requests concurrently on one event loop:
a semaphore bounds the requests in flight, a token bucket holds the requests-
and tokens-per-minute limits, a :class:`~judgerl.judges.client_budget.Budget`
is checked before every request, and transient failures are retried with
exponential backoff and full jitter (the AWS Architecture Blog scheme),
honouring ``Retry-After``. A failure never raises: :meth:`ChatClient.chat`
returns a :class:`ChatResult` whose ``error`` says what went wrong.

Outcomes, per attempt:

- 429, 408, 409, 5xx, timeout, connection error: retried up to ``max_retries``
  times, then a ``transient`` failure.
- 200 with a body that is not a chat completion (malformed JSON): retried like a
  5xx -- nothing usable arrived and a retry usually succeeds -- then transient.
- 400/422 while ``logprobs`` or ``response_format`` was sent: the server is taken
  not to support them; they are dropped (remembered for later calls) and the
  request is sent once more.
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
from judgerl.judges.client_media import estimate_prompt_tokens, strip_private, text_tokens
from judgerl.judges.client_ratelimit import RateLimiter
from judgerl.judges.client_retry import backoff_delay, parse_retry_after

_RETRY_STATUS = {408, 409, 429}
_TRANSIENT = {"rate_limited", "server_error", "timeout", "connection", "malformed"}


@dataclass(frozen=True)
class TokenLogprob:
    """Log-probability of one generated token and its top alternatives.

    Attributes:
        token: The token generated.
        logprob: Its natural-log probability.
        top: ``(token, logprob)`` alternatives, most likely first.
    """

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ChatResult:
    """The outcome of one chat call, retries included.

    Attributes:
        text: Message content (``""`` when none).
        finish_reason: ``stop``, ``length``, ... as the server said.
        refusal: The server's ``message.refusal`` text, ``""`` when absent.
        logprobs: Per generated token, when asked for and offered.
        tokens_in: Prompt tokens billed over all attempts.
        tokens_out: Completion tokens billed over all attempts.
        cost_usd: Money billed over all attempts.
        latency_s: Wall-clock seconds from the call to the result.
        retries: Requests sent beyond the first.
        error: Why no answer arrived (``""`` when one did).
        transient: True when asking again later may succeed (timeouts,
            server errors after retries, budget stop).
        budget_exhausted: True when the budget refused the request.
        dropped_params: Request options the server rejected and that were
            left out (``"logprobs"``, ``"json_mode"``).
    """

    text: str = ""
    finish_reason: str = ""
    refusal: str = ""
    logprobs: tuple[TokenLogprob, ...] = ()
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    retries: int = 0
    error: str = ""
    transient: bool = False
    budget_exhausted: bool = False
    dropped_params: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the server answered (the answer may still be unusable)."""
        return not self.error


@dataclass
class _Attempt:
    kind: str  # ok | rate_limited | server_error | timeout | connection | malformed | bad_request | client_error
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None


def _parse_logprobs(choice: Mapping[str, Any]) -> tuple[TokenLogprob, ...]:
    """OpenAI ``choices[i].logprobs.content`` as ``TokenLogprob``s; ``()`` when absent or malformed."""
    lp = choice.get("logprobs") or {}
    content = lp.get("content") if isinstance(lp, Mapping) else None
    if not isinstance(content, list):
        return ()
    out = []
    try:
        for item in content:
            top = tuple((str(t["token"]), float(t["logprob"])) for t in item.get("top_logprobs") or ())
            out.append(TokenLogprob(str(item["token"]), float(item["logprob"]), top))
    except (KeyError, TypeError, ValueError, AttributeError):
        return ()  # unusable log-probs: the judge falls back to the text
    return tuple(out)


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
        self.limiter = RateLimiter(cfg.rpm, cfg.tpm)
        self.unsupported: set[str] = set()
        self.stats: dict[str, float] = {}
        self._rng = random.Random(seed)
        self._prompt_ratio = 1.0
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None

    async def __aenter__(self) -> ChatClient:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.cfg.api_key_env, "")
        if key:  # local servers need none: then no Authorization header at all
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.AsyncClient(
            base_url=self.cfg.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=self.cfg.timeout_s,
            transport=self._transport,
            limits=httpx.Limits(max_connections=self.cfg.concurrency, max_keepalive_connections=self.cfg.concurrency),
        )
        self._sem = asyncio.Semaphore(self.cfg.concurrency)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._http, self._sem = None, None

    def _count(self, key: str, amount: float = 1.0) -> None:
        self.stats[key] = self.stats.get(key, 0.0) + amount

    def metrics(self) -> dict[str, float]:
        """Counters so far: ``judge/http_requests``, ``judge/http_retries``, ``judge/tokens_in``, ... (copies)."""
        return dict(self.stats)

    def redact(self, text: str) -> str:
        """``text`` with the API key (if any) replaced by ``***``."""
        key = os.environ.get(self.cfg.api_key_env, "")
        return text.replace(key, "***") if key else text

    async def _send(self, payload: dict[str, Any]) -> _Attempt:
        assert self._http is not None
        try:
            r = await self._http.post("chat/completions", json=payload)
        except httpx.TimeoutException:
            return _Attempt("timeout", f"timeout after {self.cfg.timeout_s:g}s")
        except httpx.TransportError as e:
            return _Attempt("connection", f"connection error: {type(e).__name__}")
        snippet = self.redact(r.text[:300])
        if r.status_code == 429:
            return _Attempt("rate_limited", f"HTTP 429: {snippet}", retry_after=parse_retry_after(r.headers))
        if r.status_code >= 500 or r.status_code in _RETRY_STATUS:
            return _Attempt(
                "server_error", f"HTTP {r.status_code}: {snippet}", retry_after=parse_retry_after(r.headers)
            )
        if r.status_code in (400, 422):
            return _Attempt("bad_request", f"HTTP {r.status_code}: {snippet}")
        if r.status_code >= 300:
            return _Attempt("client_error", f"HTTP {r.status_code}: {snippet}")
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
    ) -> ChatResult:
        """Send one chat request, with retries, limits and budget.

        Args:
            messages: OpenAI chat messages (text or text + image parts).
            logprobs: Ask for token log-probs (dropped if the server rejects it).
            top_logprobs: Alternatives per token (0..20).
            json_mode: Ask for a JSON object (``response_format``).
            max_tokens: Completion limit; default ``cfg.max_tokens``.

        Returns:
            The result; never raises for server or network failures.

        Raises:
            RuntimeError: Called outside ``async with client:``.
        """
        if self._http is None or self._sem is None:
            raise RuntimeError("ChatClient.chat must run inside `async with client:`")
        t0 = time.monotonic()
        limit = max_tokens if max_tokens is not None else self.cfg.max_tokens
        # projections scale the chars/4 estimate by the largest billed/estimated ratio seen so far,
        # so once the server has reported usage they are upper bounds for similar prompts
        est_in = math.ceil(estimate_prompt_tokens(messages) * self._prompt_ratio)
        projected = est_in + limit
        body = strip_private(messages)
        sent = transient_retries = tokens_in = tokens_out = 0
        cost = 0.0
        dropped: list[str] = []
        probed = False

        def result(**kw: Any) -> ChatResult:
            return ChatResult(
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
                latency_s=time.monotonic() - t0,
                retries=max(0, sent - 1),
                dropped_params=tuple(dropped),
                **kw,
            )

        while True:
            async with self._sem:
                # decided once a slot is ours, so capabilities learned by other calls meanwhile apply
                want_lp = logprobs and "logprobs" not in self.unsupported
                want_json = json_mode and "json_mode" not in self.unsupported
                payload = self._payload(body, want_lp, top_logprobs, want_json, limit)
                reservation = self.budget.reserve(projected, cost_usd(self.price, est_in, limit))
                if reservation is None:
                    self._count("judge/budget_refusals")
                    return result(
                        error=f"{BUDGET_EXHAUSTED} ({self.budget.reason})", transient=True, budget_exhausted=True
                    )
                self._count("judge/rate_wait_s", await self.limiter.acquire(projected))
                self._count("judge/http_requests")
                self._count("judge/http_retries", float(sent > 0))
                sent += 1
                attempt = await self._send(payload)
            b_in, b_out, reported = _billed(attempt, est_in)
            if reported and est_in > 0:
                self._prompt_ratio = max(self._prompt_ratio, self._prompt_ratio * b_in / est_in)
            b_cost = cost_usd(self.price, b_in, b_out)
            self.budget.settle(reservation, b_in + b_out, b_cost)
            self.limiter.refund(projected - (b_in + b_out))
            tokens_in, tokens_out, cost = tokens_in + b_in, tokens_out + b_out, cost + b_cost
            self._count("judge/tokens_in", b_in)
            self._count("judge/tokens_out", b_out)
            self._count("judge/cost_usd", b_cost)
            self._count(f"judge/http_{attempt.kind}")

            if attempt.kind == "ok":
                choice = attempt.data["choices"][0]
                message = choice["message"]
                content = message.get("content")
                return result(
                    text=content if isinstance(content, str) else "",
                    refusal=str(message.get("refusal") or ""),
                    finish_reason=str(choice.get("finish_reason") or ""),
                    logprobs=_parse_logprobs(choice),
                )
            if attempt.kind == "bad_request" and (want_lp or want_json) and not probed:
                # capability detection: drop what the error names (or both), remember, ask once more
                msg = attempt.error.lower()
                asked = [("logprobs", want_lp, "logprob"), ("json_mode", want_json, "response_format")]
                drop = [name for name, on, hint in asked if on and hint in msg]
                drop = drop or [name for name, on, _ in asked if on]
                self.unsupported.update(drop)
                dropped.extend(drop)
                probed = True
                continue
            transient = attempt.kind in _TRANSIENT
            if transient and transient_retries < self.cfg.max_retries:
                transient_retries += 1
                delay = backoff_delay(
                    transient_retries, self.cfg.backoff_base_s, self.cfg.backoff_max_s, attempt.retry_after, self._rng
                )
                await asyncio.sleep(delay)
                continue
            return result(error=attempt.error, transient=transient)
