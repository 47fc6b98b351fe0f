"""What one chat call returns: the answer, its token log-probs, its cost and how it ended.

Split from ``client.py`` (the sending, retrying and budgeting) so each module has one role;
``judgerl.judges.client`` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
        requests: Requests actually sent (0 when the budget or a halt refused
            the call before sending).
        error: Why no answer arrived (``""`` when one did).
        transient: True when asking again later may succeed (timeouts,
            server errors after retries, budget stop).
        budget_exhausted: True when the budget refused the request.
        dropped_params: Request options the server rejected and that were
            left out (``"logprobs"``, ``"json_mode"``).
        config_error: True when the answer shows the configuration is wrong
            (401/403/404/3xx, or ``logprobs`` rejected while required): the
            caller must stop and store nothing final; ``error`` says why.
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
    requests: int = 0
    config_error: bool = False

    @property
    def ok(self) -> bool:
        """True when the server answered (the answer may still be unusable)."""
        return not self.error


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
        return ()  # unusable log-probs: the judge sees none
    return tuple(out)
