"""Chat-model judges over an OpenAI-compatible API: pairwise, pointwise yes/no, episode verdict.

:class:`ChatJudge` renders each query into a prompt from a versioned template,
sends all of them concurrently through one :class:`~judgerl.judges.client.ChatClient`
on one event loop, and parses each answer strictly:

- ``pairwise``: "A" / "B" (or ``{"answer": "A"}``) → preference 1.0 / 0.0;
  "tie" → 0.5 only when ties are allowed.
- ``pointwise``: the answer must be a complete yes/no (not truncated, not
  empty, first word yes or no). With ``logprobs`` on (the default), value =
  ``log P(yes) − log P(no)`` of the first answer token (optionally
  calibrated); with ``logprobs: false``, the text's yes/no as 1.0 / 0.0. The
  mode is part of the judge id, and a log-prob judge never falls back to 0/1:
  one reward model never sees two scales. A pointwise judge given pairwise
  queries scores both segments and returns ``pairs_from_scores`` as preference.
- ``episode``: seed 003's JSON verdict; ``aligned`` true/false → 1.0 / 0.0.
- ``caption_pairs`` (Motif, with ``judge.form: caption_pairs``): the goal and two
  game messages; the answer ends with ``("best_description": 1 | 2 | tie)``
  (after an optional chain of thought) or is the one word → 1.0 / 0.0 / 0.5.
  A caption pair can also be judged with ``judge.form: pointwise``: each message
  scored alone, as pairwise queries are.

Refusals become ``abstain``; unparseable, empty or truncated answers become
``failed`` with the raw text kept -- never a label scored from log-probs;
network failures and budget stops become ``failed`` and ``transient`` so a
later run asks again. Configuration errors (401/403/404/3xx, a log-prob judge
whose server gives no log-probs) raise :class:`~judgerl.judges.base.JudgeConfigError`
after the batch's in-flight requests end: labels already made are reported,
nothing is made for the rest, and their requests go to the spending sink.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from judgerl.config import ClientConfig, JudgeConfig, PriceConfig
from judgerl.forms.registry import form_label, is_pair
from judgerl.judges.base import JudgeConfigError, OnLabel, OnSpending, Spending
from judgerl.judges.client import ChatClient, ChatResult
from judgerl.judges.client_budget import Budget, Spend
from judgerl.judges.client_checks import check_client_config
from judgerl.judges.llm_async import run_here
from judgerl.judges.llm_calibration import Calibration, median_threshold
from judgerl.judges.llm_interpret import interpret, provenance
from judgerl.judges.llm_parse import yes_no_margin
from judgerl.judges.llm_prompts import (
    DEFAULT_PROMPTS,
    EXTRA_PROMPTS,
    View,
    answer_form,
    asking,
    chat_judge_id,
    load_prompt,
    render_pointwise,
    render_query,
)
from judgerl.judges.prompt_memo import PromptMemo
from judgerl.types import Label, Provenance, Query, QueryKind, TaskSpec


class ChatJudge:
    """A judge backed by an OpenAI-compatible chat model.

    Args:
        client_cfg: Server, model, sampling, concurrency, retries, limits.
        price: Token prices for cost accounting.
        budget: Spending limits (shared with other judges if passed around).
        form: Feedback form to answer; ``None`` follows each query's kind.
        prompt: Template for ``form`` (packaged name or ``.txt`` path).
        calibration: Pointwise scores: ``none``, ``median`` or ``content_free``.
        allow_ties: Pairwise prompt offers "tie" (→ preference 0.5).
        view: What of each segment is shown (mode, steps, keyframes).
        seed: Seed of the retry jitter.
        transport: Optional httpx transport (tests).

    Attributes:
        threshold: Median-calibration threshold on pointwise values (``None``
            until :meth:`calibrate` or the first pointwise batch sets it).
    """

    def __init__(
        self,
        client_cfg: ClientConfig,
        price: PriceConfig | None = None,
        budget: Budget | None = None,
        *,
        form: QueryKind | None = None,
        prompt: str | None = None,
        calibration: Calibration = "none",
        allow_ties: bool = False,
        view: View | None = None,
        question: str | None = None,
        seed: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if prompt is not None and form is None:
            raise ValueError(
                "a custom prompt needs the form it answers: set judge.form (pairwise|pointwise|episode|caption_pairs)"
            )
        if calibration == "content_free" and not client_cfg.logprobs:
            raise ValueError(
                "judge.calibration content_free subtracts a log-prob margin: set judge.client.logprobs=true "
                "or choose calibration none/median"
            )
        self.cfg = client_cfg
        self.client = ChatClient(client_cfg, price, budget, seed=seed, transport=transport)
        self.form = form
        self.templates = {kind: load_prompt(name) for kind, name in {**DEFAULT_PROMPTS, **EXTRA_PROMPTS}.items()}
        if prompt is not None and form is not None:
            self.templates[form] = load_prompt(prompt)
        self.calibration = calibration
        self.allow_ties = allow_ties
        self.view = view if view is not None else View()
        self.question = question
        self.threshold: float | None = None
        self.counts: Counter[str] = Counter()
        self.memo = PromptMemo(client_cfg.reuse_prompts and client_cfg.temperature == 0.0)
        self._content_free: dict[str, float] = {}
        self._on_spending: OnSpending | None = None
        self._on_send: Callable[[str], None] | None = None
        shas = {f: t.sha for f, t in self.templates.items()}
        self._id = chat_judge_id(client_cfg, form, shas, self.view, calibration, allow_ties, question)

    @property
    def id(self) -> str:
        """Hash of model, prompt shas, form, sampling, view and calibration (never URL or key)."""
        return self._id

    @property
    def budget_exhausted(self) -> bool:
        """True once the budget refused a call; the caller should stop labelling."""
        return self.client.budget.exhausted

    def set_spending_sink(self, sink: OnSpending | None) -> None:
        """Report requests that produce no label row (calibration, answers dropped at a stop) to ``sink``.

        Args:
            sink: Called once per such call, from the thread running the event
                loop; ``None`` stops reporting.
        """
        self._on_spending = sink

    def set_send_sink(self, sink: Callable[[str], None] | None) -> None:
        """Call ``sink(query_key)`` before a query's first request is sent, in a worker thread; the request
        waits for it (:class:`~judgerl.labels.cached.CachedJudge` commits an in-flight row there)."""
        self._on_send = sink

    def _spent(self, purpose: str, results: Sequence[ChatResult]) -> None:
        """Report ``results`` that no label will carry to the spending sink (if any was sent)."""
        requests = sum(r.requests for r in results)
        if requests and self._on_spending is not None:
            self._on_spending(
                Spending(
                    purpose=purpose,
                    requests=requests,
                    tokens_in=sum(r.tokens_in for r in results),
                    tokens_out=sum(r.tokens_out for r in results),
                    cost_usd=sum(r.cost_usd for r in results),
                )
            )

    def metrics(self) -> dict[str, float]:
        """Client counters plus ``judge/labels_<status>`` and ``judge/budget_exhausted``."""
        out = self.client.metrics()
        out.update({f"judge/{k}": float(v) for k, v in self.counts.items()})
        out["judge/budget_exhausted"] = float(self.budget_exhausted)
        out["judge/prompt_reuses"] = float(self.memo.reused)
        if self.threshold is not None:
            out["judge/threshold"] = self.threshold
        return out

    def _form_for(self, query: Query) -> QueryKind:
        return answer_form(self.form, query)

    def _chat_kwargs(self, form: QueryKind) -> dict[str, Any]:
        if form == "pointwise":
            lp = self.cfg.logprobs
            return {"logprobs": lp, "top_logprobs": self.cfg.top_logprobs, "logprobs_required": lp}
        return {"json_mode": form == "episode" and self.cfg.json_mode}

    def _interpret(self, task: TaskSpec, query: Query, form: QueryKind, results: Sequence[ChatResult]) -> Label:
        """The label for ``query`` from its answers (see :func:`~judgerl.judges.llm_interpret.interpret`)."""
        out = interpret(results, form, self.cfg, self.allow_ties, self._content_free.get(task.id, 0.0))
        prov = provenance(results, self.id, self.cfg.model, self.templates[form].sha, out, self.client.redact)
        if out.status == "ok":  # the query's form decides the label's field and checks the answer
            return form_label(query, out.preference if out.preference is not None else out.value, prov)
        return Label(query.key, out.status, prov)

    async def _judge_one(self, task: TaskSpec, query: Query, form: QueryKind, cf_error: str) -> Label:
        refused = self._refuse_images(task, query, form)
        if refused is not None:
            return refused
        if cf_error and form == "pointwise":
            prov = Provenance(self.id, self.cfg.model, self.templates[form].sha, error=cf_error, transient=True)
            return Label(query.key, "failed", prov)
        if form == "pointwise" and is_pair(query.kind):
            msgs = [
                render_pointwise(self.templates[form], task, s, self.view).messages(self.cfg) for s in query.segments
            ]
        else:
            msgs = [render_query(self.templates, task, query, self.view, form, self.allow_ties).messages(self.cfg)]
        if self._on_send is not None:
            await asyncio.to_thread(self._on_send, query.key)
        results = await asyncio.gather(*(self._chat(m, form) for m in msgs))
        try:
            return self._interpret(task, query, form, results)
        except JudgeConfigError as e:
            self.client.halt(str(e))  # the rest of the batch is not sent
            self._spent(f"stopped: {e}"[:300], results)
            raise

    async def _chat(self, messages: Any, form: QueryKind) -> ChatResult:
        """One call for ``messages``, or the answer an identical prompt already got (:mod:`prompt_memo`)."""
        kwargs = self._chat_kwargs(form)
        key = PromptMemo.key(self.cfg.model, messages, kwargs)
        return await self.memo.chat(key, lambda: self.client.chat(messages, **kwargs))

    def _refuse_images(self, task: TaskSpec, query: Query, form: QueryKind) -> Label | None:
        """A failed label, before any call is paid, when frames would go to a text-only model."""
        if self.cfg.vision:
            return None
        try:
            render_query(self.templates, task, query, self.view, form, self.allow_ties).messages(self.cfg)
        except ValueError as e:
            return Label(
                query.key, "failed", Provenance(self.id, self.cfg.model, self.templates[form].sha, error=str(e))
            )
        return None

    async def _ensure_content_free(self, task: TaskSpec) -> str:
        """Score the content-free prompt once per task; returns an error text or ``""``.

        The call's cost goes to the spending sink: no label row carries it.

        Raises:
            JudgeConfigError: The server rejects the configuration (key, model,
                URL) or gives no log-probs.
        """
        if task.id in self._content_free:
            return ""
        msgs = render_pointwise(self.templates["pointwise"], task, None, self.view).messages(self.cfg)
        top = max(self.cfg.top_logprobs, 5)
        res = await self.client.chat(msgs, logprobs=True, top_logprobs=top, logprobs_required=True)
        self._spent("content_free_calibration", [res])  # no label row carries this call's cost
        if res.config_error:  # includes a server that rejects or ignores log-probs (logprobs_required)
            raise JudgeConfigError(res.error)
        margin = yes_no_margin(res.logprobs) if not res.error else None
        if margin is None:
            return f"content-free calibration failed: {res.error or 'no yes/no log-probs for the N/A prompt'}"
        self._content_free[task.id] = margin
        return ""

    async def _judge_all(
        self, task: TaskSpec, queries: Sequence[Query], forms: Sequence[QueryKind], emit: OnLabel
    ) -> list[Label]:
        async with self.client:
            cf_error = ""
            if self.calibration == "content_free" and "pointwise" in forms:
                cf_error = await self._ensure_content_free(task)

            # A query holds its slot until its label is reported (stored, for CachedJudge), not only while
            # its request is in flight: so a kill -9 can lose at most the answers of requests still in the
            # air (none with concurrency 1), never one that arrived but was not yet committed.
            # ``concurrency`` is per endpoint: with several replicas the batch keeps every one of them busy
            slots = asyncio.Semaphore(self.cfg.concurrency * len(self.client.pool))

            async def indexed(i: int) -> tuple[int, Label | JudgeConfigError]:
                await slots.acquire()
                try:
                    return i, await self._judge_one(task, queries[i], forms[i], cf_error)
                except JudgeConfigError as e:  # raised once the batch has settled
                    return i, e

            tasks = [asyncio.create_task(indexed(i)) for i in range(len(queries))]
            labels: list[Label | None] = [None] * len(queries)
            stop: JudgeConfigError | None = None
            try:
                # after a stop the halted client answers the waiting calls at once, so this ends
                # after the requests in flight; their labels (paid for) are still reported
                for fut in asyncio.as_completed(tasks):
                    i, lab = await fut
                    try:
                        if isinstance(lab, JudgeConfigError):
                            stop = stop or lab
                            continue
                        labels[i] = lab
                        self.counts[f"labels_{lab.status}"] += 1
                        emit(queries[i], lab)
                    finally:
                        slots.release()
                if stop is not None:
                    raise stop
            finally:  # on an error (e.g. in on_label) stop the rest before the HTTP session closes
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return [lab for lab in labels if lab is not None]

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Judge all queries concurrently; ``on_label`` runs in the caller's thread as each finishes.

        Args:
            task: The task (instruction, question, modalities).
            queries: Pairwise, pointwise or episode queries.
            on_label: Called once per query as its label is ready (any order).

        Returns:
            One label per query, in order.

        Raises:
            ValueError: A query kind this judge's form cannot answer, or a
                view that the segments have no data for.
            JudgeConfigError: The server rejects the configuration (key,
                permission, model, URL, log-probs); labels made before are
                reported through ``on_label``, none for the rest.
        """
        forms = [self._form_for(q) for q in queries]
        if not queries:
            return []
        task = asking(task, self.question)
        labels = run_here(lambda emit: self._judge_all(task, queries, forms, emit), on_label)
        if self.calibration == "median" and self.threshold is None:
            values = [
                lab.value for lab, f in zip(labels, forms, strict=True) if f == "pointwise" and lab.value is not None
            ]
            if values and all(not is_pair(q.kind) for q in queries):
                self.threshold = median_threshold(values)
        return labels

    def count_earlier_spending(self, calls: int, tokens: int, cost_usd: float) -> None:
        """Count what earlier runs of the same run directory spent against this run's budget.

        The budget is a hard limit per run directory, so a resumed run (or the run
        after a preflight) starts from what the label store says was already spent.
        """
        self.client.budget.spent = self.client.budget.spent + Spend(calls, tokens, cost_usd)

    def calibrate(self, task: TaskSpec, queries: Sequence[Query]) -> float:
        """Set :attr:`threshold` to the median pointwise value over ``queries`` (a calibration set).

        Raises:
            ValueError: No query got an ``ok`` value.
        """
        labels = self.judge(task, queries)
        self.threshold = median_threshold([lab.value for lab in labels if lab.status == "ok" and lab.value is not None])
        return self.threshold

    def calibrated_verdict(self, label: Label) -> bool | None:
        """Yes/no verdict of a pointwise or episode label: value above the threshold.

        The threshold is :attr:`threshold` under median calibration, else 0
        (log P(yes) > log P(no), or a parsed yes). ``None`` for labels that are
        not ``ok``.

        Raises:
            RuntimeError: Median calibration without a threshold yet.
        """
        if label.status != "ok" or label.value is None:
            return None
        if self.calibration == "median":
            if self.threshold is None:
                raise RuntimeError("median calibration has no threshold yet: call calibrate() first")
            return label.value > self.threshold
        return label.value > 0.0


def build_chat_judge(cfg: JudgeConfig, task: TaskSpec, seed: int) -> ChatJudge:
    """Factory builder for judge type ``openai``: a :class:`ChatJudge` from a ``JudgeConfig``.

    Raises:
        ConfigError: Plain http to a remote host, or a remote server without a
            key (:func:`~judgerl.judges.client_checks.check_client_config`, also
            run by ``validate_references``; repeated here for every other caller).
    """
    check_client_config(cfg)
    view = View(show=cfg.show, steps=cfg.captions_per_segment, keyframes=cfg.keyframes)
    return ChatJudge(
        cfg.client,
        cfg.price,
        Budget(cfg.budget),
        form=cfg.form,
        prompt=cfg.prompt,
        calibration=cfg.calibration,
        allow_ties=cfg.allow_ties,
        view=view,
        question=cfg.question,
        seed=seed,
    )
