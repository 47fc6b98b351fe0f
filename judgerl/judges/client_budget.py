"""Hard spending limits (calls, tokens, money) and the price table.

Every HTTP request the client sends first *reserves* its projected worst case
(one call, the estimated prompt tokens plus ``max_tokens`` completion tokens,
and their price) and is refused when the reservation would cross a limit; after
the answer the reservation is replaced by what the server billed. Hence:

- calls: never more than ``max_calls`` requests are sent (exact; retries count);
- tokens and cost: the total stays within the limit unless the server billed
  more than projected. Servers honour ``max_tokens``, so only the prompt
  estimate can be low; the client scales it by the largest billed/estimated
  ratio seen so far, so this can only happen before the first answers. The
  overshoot is then at most the underestimated part of the calls in flight:
  less than one call's worth per concurrent request, so less than one call's
  worth with ``concurrency=1``. The price of the guarantee is that a run stops
  when the *remaining* budget is smaller than one call's projected worst case.

Requests that end without a usage report (timeouts, HTTP errors) count as
calls with 0 tokens: nothing tells what, if anything, was billed.

Once a reservation is refused the budget stays exhausted for the rest of the
process, so labelling stops cleanly; the failed labels are marked transient and
a later run with a raised budget asks them again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from judgerl.config import BudgetConfig, PriceConfig

BUDGET_EXHAUSTED = "budget exhausted"


def cost_usd(price: PriceConfig, tokens_in: int, tokens_out: int) -> float:
    """Money for one call.

    Args:
        price: USD per million prompt / completion tokens.
        tokens_in: Prompt tokens.
        tokens_out: Completion tokens.

    Returns:
        Cost in US dollars.
    """
    return (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1e6


@dataclass(frozen=True)
class Spend:
    """What has been spent (or reserved): requests, tokens in+out, US dollars."""

    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.calls + other.calls, self.tokens + other.tokens, self.cost_usd + other.cost_usd)

    def __sub__(self, other: Spend) -> Spend:
        return Spend(self.calls - other.calls, self.tokens - other.tokens, self.cost_usd - other.cost_usd)


class Budget:
    """Thread-safe spending limits checked before every request.

    Args:
        cfg: Limits; ``None`` fields (or ``cfg=None``) mean unlimited.
        spent: What earlier runs already spent, counted against the limits
            (e.g. summed from the label store's provenance on resume).

    Attributes:
        spent: Billed so far (including ``spent`` given at construction).
        reason: Which limit stopped the run (``""`` while not exhausted).
    """

    def __init__(self, cfg: BudgetConfig | None = None, spent: Spend | None = None) -> None:
        self.cfg = cfg if cfg is not None else BudgetConfig.model_validate({})
        self.spent = spent if spent is not None else Spend()
        self.reason = ""
        self._reserved = Spend()
        self._lock = threading.Lock()

    @property
    def exhausted(self) -> bool:
        """True once a request was refused for lack of budget (sticky)."""
        return bool(self.reason)

    def _over(self, total: Spend) -> str:
        c = self.cfg
        if c.max_calls is not None and total.calls > c.max_calls:
            return f"max_calls={c.max_calls} reached"
        if c.max_tokens is not None and total.tokens > c.max_tokens:
            return f"max_tokens={c.max_tokens} would be exceeded"
        if c.max_cost_usd is not None and total.cost_usd > c.max_cost_usd + 1e-12:
            return f"max_cost_usd={c.max_cost_usd} would be exceeded"
        return ""

    def reserve(self, tokens: int, cost: float) -> Spend | None:
        """Reserve one request with its projected tokens and cost.

        Args:
            tokens: Projected prompt + completion tokens (an upper bound).
            cost: Projected cost in USD.

        Returns:
            The reservation to pass to :meth:`settle`, or ``None`` when the
            budget is (now) exhausted and the request must not be sent.
        """
        want = Spend(1, tokens, cost)
        with self._lock:
            if self.reason:
                return None
            why = self._over(self.spent + self._reserved + want)
            if why:
                self.reason = why
                return None
            self._reserved = self._reserved + want
            return want

    def settle(self, reservation: Spend, tokens: int, cost: float) -> None:
        """Replace a reservation by what the request really cost.

        Args:
            reservation: What :meth:`reserve` returned.
            tokens: Billed prompt + completion tokens (0 when nothing was billed).
            cost: Billed USD.
        """
        with self._lock:
            self._reserved = self._reserved - reservation
            self.spent = self.spent + Spend(1, tokens, cost)
