"""Send each distinct prompt once per judge: identical prompts at temperature 0 reuse the first answer.

Why: the label cache keys on a query's *data*, not on the text the model reads.
Different queries can render to the same prompt (captions that repeat, the same
segment scored pointwise in several pairs, NetHack messages that recur in every
episode), and at temperature 0 the model's answer to the same prompt is the same
one, so paying for it again buys nothing. The reused answer carries no cost, no
tokens and ``requests=0``, so budgets and ``judge/cost_usd`` count each prompt
once. Only answers that arrived are kept (an error, a transient failure or a
configuration stop is asked again next time); two identical prompts in flight at
once share the one request (if it fails, both labels are transient failures).

The memo lives as long as the judge object (one run start); a resumed run keeps
what the label cache keeps, per query.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from judgerl.judges.client_result import ChatResult


class PromptMemo:
    """Answers already bought, by prompt (messages + request options + model).

    Args:
        enabled: Reuse answers; ``False`` sends every prompt.
        max_entries: Answers kept (least recently used ones are forgotten first).

    Attributes:
        reused: Calls answered from the memo (or from an identical call in flight).
    """

    def __init__(self, enabled: bool, max_entries: int = 50_000) -> None:
        self.enabled = enabled
        self.max_entries = int(max_entries)
        self.reused = 0
        self._answers: OrderedDict[str, ChatResult] = OrderedDict()
        self._pending: dict[str, asyncio.Future[ChatResult]] = {}

    @staticmethod
    def key(model: str, messages: Any, options: dict[str, Any]) -> str:
        """sha256 of what the server would receive (model, messages, request options)."""
        blob = json.dumps([model, messages, options], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def chat(self, key: str, send: Callable[[], Awaitable[ChatResult]]) -> ChatResult:
        """The answer for prompt ``key``: sent with ``send()`` the first time, reused at no cost after.

        Args:
            key: :meth:`key` of the prompt.
            send: Sends the prompt and returns its result.

        Returns:
            The server's result, or a copy of an earlier one with cost, tokens,
            latency, retries and requests set to 0.
        """
        if not self.enabled:
            return await send()
        known = self._answers.get(key)
        if known is not None:
            self._answers.move_to_end(key)
            return self._reuse(known)
        pending = self._pending.get(key)
        if pending is not None and pending.get_loop() is asyncio.get_running_loop():
            return self._reuse(await asyncio.shield(pending))
        fut: asyncio.Future[ChatResult] = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        try:
            res = await send()
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waited on it
            raise
        finally:
            if self._pending.get(key) is fut:
                del self._pending[key]
        if res.ok and not res.transient and not res.config_error:
            self._answers[key] = res
            if len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)
            fut.set_result(res)
        else:  # nothing worth reusing: a waiting twin reports the failure as transient, unpaid, to be asked again
            fut.set_result(dataclasses.replace(res, error=res.error or "no answer", transient=True))
        return res

    def _reuse(self, res: ChatResult) -> ChatResult:
        if not res.ok or res.transient:  # a twin's request failed: report it as transient, nothing paid here
            return dataclasses.replace(res, tokens_in=0, tokens_out=0, cost_usd=0.0, requests=0, retries=0)
        self.reused += 1
        return dataclasses.replace(res, tokens_in=0, tokens_out=0, cost_usd=0.0, latency_s=0.0, retries=0, requests=0)
