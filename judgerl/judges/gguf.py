"""A local GGUF chat model as a yes/no judge, through llama-cpp-python (no server).

Small local models fail the A/B pairwise format (they answer "A" whatever is
shown) but rank well with a calibrated yes/no log-prob margin, so every query
is asked as the pointwise yes/no prompt (``pointwise_yesno_v1``, shared with
:class:`~judgerl.judges.llm.ChatJudge`) about one segment's captions:

- ``pointwise``: the segment's evenly spaced captions (``view.steps``);
- ``episode``: the verdict form, the same question over ``view.keyframes``
  captions of the whole episode; the verdict is yes iff ``value > 0``;
- ``pairwise`` and ``caption_pairs``: both segments scored (a caption pair:
  each message alone), ``preference = sigmoid(m_A − m_B)``
  (``pairs_from_scores``; calibration offsets cancel).

``value`` is the *calibrated* margin ``log P(yes) − log P(no) − offset`` in
nats (positive = yes), with ``offset``:

- ``none``: 0;
- ``median``: the median raw margin of the first batch of pointwise/episode
  queries judged (or of :meth:`GGUFJudge.calibrate`'s set), then frozen, so
  later labels stay comparable and a resumed run reproduces them;
- ``content_free``: the margin of the same prompt with the content replaced by
  "N/A" (Zhao et al. 2021, "Calibrate before use"), once per task.

With a ``contrast_question`` the raw margin is ``m(question) − m(contrast)``,
the difference of two prompts' margins (a goal minus a baseline, as the
embedding judge projects). The raw margin and offset are kept in
``provenance.raw_response`` (JSON).
The model reads text only: asking it to judge frames is refused at
construction. Prompts that do not fit ``n_ctx`` become ``failed`` labels.

Nothing is generated, so there is no truncated, refused or unparseable answer
to mistake for a label (the hole the HTTP judge guards against); the one
unusable outcome is a non-finite margin (NaN/inf logits, a broken model file),
which becomes ``failed`` instead of a NaN value in the reward fit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from judgerl.config import GGUFConfig, JudgeConfig
from judgerl.forms.registry import form_label, is_pair
from judgerl.install_hints import MissingDependency, install_hint
from judgerl.judges.base import OnLabel
from judgerl.judges.gguf_scoring import NO_WORDS, YES_WORDS, PrefixEvaluator, answer_token_ids, margin_from_logits
from judgerl.judges.llm_calibration import Calibration, median_threshold, pairs_from_scores
from judgerl.judges.llm_prompts import View, asking, load_prompt, render_pointwise
from judgerl.types import Label, Provenance, Query, Segment, TaskSpec

LLAMA_HINT = f"llama-cpp-python is not installed: {install_hint('gguf')}"
MEMO_ENTRIES = 65_536  # distinct prompts whose margins are kept (least recently used ones go first)


def import_llama() -> Any:
    """Import ``llama_cpp`` lazily, with an actionable error when it is missing."""
    # Busy-waiting OpenMP workers make llama.cpp ~4x slower on shared CPUs
    # (measured on 2 shared cores); passive waiting costs nothing when idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependency(LLAMA_HINT) from None
    return llama_cpp


def default_threads() -> int:
    """Half the CPU cores this process may use, at least 1."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


class GGUFJudge:
    """Yes/no log-prob judge on a local GGUF chat model.

    Args:
        cfg: Model path (default: the packaged SmolLM2-135M), context, threads,
            chat format, prefix reuse.
        task: The task; its ``question`` is asked unless ``question`` is given.
        calibration: ``median`` (default), ``content_free`` or ``none``.
        question: Yes/no question overriding ``task.question``.
        contrast_question: A second yes/no question whose margin is
            subtracted: the raw margin becomes ``m(question) − m(contrast)``.
        view: Steps shown per segment and keyframes per episode (captions only).
        prompt: Yes/no template (packaged name or ``.txt`` path) with
            ``$instruction``, ``$content`` and ``$question``.
        modality: ``captions`` (text); ``frames`` raises: the model is text-only.
        llama: An already loaded ``llama_cpp.Llama`` (tests, sharing).

    Attributes:
        threshold: The frozen ``median`` offset (``None`` until set).

    Raises:
        ValueError: ``modality="frames"`` or a task that offers only frames.
    """

    def __init__(
        self,
        cfg: GGUFConfig,
        task: TaskSpec,
        calibration: Calibration = "median",
        question: str | None = None,
        *,
        contrast_question: str | None = None,
        view: View | None = None,
        prompt: str = "pointwise_yesno_v1",
        modality: Literal["captions", "frames"] = "captions",
        llama: Any | None = None,
    ) -> None:
        if modality == "frames" or not {"captions", "state"} & set(task.modalities):
            raise ValueError(
                "GGUFJudge reads text only and cannot judge frames: show it captions (task modalities "
                f"{task.modalities}), or use judge.type clip / openai with a vision-language server"
            )
        self.cfg = cfg
        self.task = task
        self.calibration = calibration
        self.question = question
        self.contrast_question = contrast_question
        self.view = view if view is not None else View(show="captions")
        self.template = load_prompt(prompt)
        self.model_path = cfg.model_path
        self.threshold: float | None = None
        self.counts: Counter[str] = Counter()
        self._llama = llama
        self._scorer: PrefixEvaluator | None = None
        self._ids: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._content_free: dict[str, float] = {}
        # text -> raw margin: logits are a deterministic function of the prompt, so a repeat costs nothing
        self._memo: OrderedDict[str, float] = OrderedDict()
        model_name = Path(cfg.model_path).name if cfg.model_path else "SmolLM2-135M-Instruct.Q4_1.gguf"
        self.model_name = model_name
        spec: list[Any] = [type(self).__name__, model_name, self.template.sha, question, calibration, cfg.chat_format]
        spec += [self.view.steps, self.view.keyframes]
        if contrast_question is not None:  # appended only when set, so existing judge ids are unchanged
            spec.append(contrast_question)
        self._id = f"gguf:{model_name}:{hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]}"

    @property
    def id(self) -> str:
        """Hash of class, model file name, prompt sha, question(s), calibration, chat format and view."""
        return self._id

    # ------------------------------------------------------------------ model

    def _load(self) -> PrefixEvaluator:
        if self._scorer is None:
            if self._llama is None:
                llama_cpp = import_llama()
                from judgerl.judges.embedded import packaged_smollm2_path

                path = self.model_path or packaged_smollm2_path()
                if not Path(path).is_file():
                    raise FileNotFoundError(f"GGUF model {path} does not exist (judge.gguf.model_path)")
                threads = self.cfg.n_threads or default_threads()
                # logits_all=False: we read the last position's logits with
                # llama_get_logits_ith; logits_all=True stores n_ctx x vocab
                # floats (~400 MB for SmolLM2) and measured ~1.5x slower.
                self._llama = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=self.cfg.n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    logits_all=False,
                    verbose=False,
                )
            self._scorer = PrefixEvaluator(self._llama, reuse_prefix=self.cfg.reuse_prefix)
            tok = self._llama.tokenize

            def tokenize(text: str) -> list[int]:
                return list(tok(text.encode("utf-8"), add_bos=False, special=False))

            self._ids = (answer_token_ids(tokenize, YES_WORDS), answer_token_ids(tokenize, NO_WORDS))
        return self._scorer

    def raw_margin(self, text: str) -> tuple[float, int]:
        """Uncalibrated yes/no margin of one user message.

        Args:
            text: The rendered prompt (user message).

        Returns:
            ``(log P(yes) − log P(no)`` in nats``, prompt tokens)``; with
            ``cfg.reuse_prompts`` a prompt scored before returns its first
            margin and 0 tokens (the model does not run; counted in
            ``judge/gguf_prompts_reused``).
        """
        from judgerl.judges.gguf_scoring import render_chat

        if self.cfg.reuse_prompts and text in self._memo:
            self._memo.move_to_end(text)
            self.counts["gguf_prompts_reused"] += 1
            return self._memo[text], 0
        scorer = self._load()
        assert self._ids is not None
        chat = render_chat(scorer.llama, [{"role": "user", "content": text}], self.cfg.chat_format)
        tokens = scorer.tokenize(chat)
        margin = margin_from_logits(scorer.next_logits(tokens), *self._ids)
        if self.cfg.reuse_prompts and math.isfinite(margin):
            self._memo[text] = margin
            if len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return margin, len(tokens)

    # ------------------------------------------------------------------ prompts

    def _margin(self, task: TaskSpec, segment: Segment | None, episode: bool) -> tuple[float, int]:
        """Raw margin of one segment (``None``: the content-free prompt), minus the contrast's; prompt tokens."""
        if segment is not None and not segment.captions:  # caption once, not once per question
            segment = dataclasses.replace(segment, captions=tuple(task.captioner(o) for o in segment.obs))
        m, n = self.raw_margin(self._text(task, segment, episode))
        if self.contrast_question is None:
            return m, n
        m2, n2 = self.raw_margin(self._text(task, segment, episode, self.contrast_question))
        return m - m2, n + n2

    def _text(self, task: TaskSpec, segment: Segment | None, episode: bool, question: str | None = None) -> str:
        if segment is not None and not segment.captions:
            captions = tuple(task.captioner(o) for o in segment.obs)
            segment = dataclasses.replace(segment, captions=captions)
        steps = self.view.keyframes if episode else self.view.steps
        mode: Literal["captions", "state"] = "captions" if "captions" in task.modalities or segment is None else "state"
        view = View(show=mode, steps=steps, keyframes=self.view.keyframes)
        return render_pointwise(self.template, asking(task, question or self.question), segment, view).text

    def _offset(self, task: TaskSpec) -> float:
        if self.calibration == "content_free":
            if task.id not in self._content_free:
                self._content_free[task.id] = self._margin(task, None, episode=False)[0]
            return self._content_free[task.id]
        if self.calibration == "median":
            return self.threshold if self.threshold is not None else 0.0
        return 0.0

    # ------------------------------------------------------------------ judging

    def _score_query(self, task: TaskSpec, q: Query) -> tuple[list[float], int, str]:
        """Raw margins of the query's segments, prompt tokens, and an error ('' if fine)."""
        margins: list[float] = []
        n_tok = 0
        for seg in q.segments:
            try:
                m, n = self._margin(task, seg, episode=q.kind == "episode")
            except ValueError as e:  # prompt too long, unknown chat format, bad captions
                return margins, n_tok, str(e)
            if not math.isfinite(m):  # NaN/inf logits: no answer, never a NaN label value
                return margins, n_tok, f"non-finite yes/no margin {m} from the model's logits"
            margins.append(m)
            n_tok += n
        return margins, n_tok, ""

    def _label(self, task: TaskSpec, q: Query, margins: list[float], n_tok: int, error: str, t: float) -> Label:
        def prov(raw: dict[str, Any], err: str = "") -> Provenance:
            return Provenance(
                judge_id=self.id,
                model=self.model_name,
                prompt_sha=self.template.sha,
                raw_response=json.dumps(raw),
                tokens_in=n_tok,
                latency_s=t,
                error=err,
            )

        if error:
            return Label(q.key, "failed", prov({"margins": margins}, error))
        if is_pair(q.kind):
            pref = float(pairs_from_scores(margins[0], margins[1]))
            return form_label(q, pref, prov({"margins": margins}))
        offset = self._offset(task)
        value = margins[0] - offset
        if not math.isfinite(value):  # a non-finite content-free offset
            return Label(
                q.key, "failed", prov({"margin": margins[0], "offset": offset}, "non-finite calibration offset")
            )
        raw = {"margin": margins[0], "offset": offset, "verdict": "yes" if value > 0 else "no"}
        return form_label(q, value, prov(raw))

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Judge every query in order (one model, so sequentially).

        Under ``median`` calibration with no threshold yet, the threshold is
        set from this batch's pointwise/episode margins before any label is
        emitted.

        Args:
            task: The task (instruction, question, captioner).
            queries: Pairwise, pointwise or episode queries.
            on_label: Called with each label as soon as it exists.

        Returns:
            One label per query, in order.
        """
        scored = []
        defer = self.calibration == "median" and self.threshold is None
        labels: list[Label] = []
        for q in queries:
            t0 = time.perf_counter()
            margins, n_tok, error = self._score_query(task, q)
            scored.append((q, margins, n_tok, error, time.perf_counter() - t0))
            if not defer:
                labels.append(self._emit(task, *scored[-1], on_label))
        if defer:
            single = [s[1][0] for s in scored if not is_pair(s[0].kind) and not s[3]]
            if single:
                self.threshold = median_threshold(single)
            labels = [self._emit(task, *s, on_label) for s in scored]
        return labels

    def _emit(
        self, task: TaskSpec, q: Query, margins: list[float], n_tok: int, error: str, t: float, on_label: OnLabel | None
    ) -> Label:
        label = self._label(task, q, margins, n_tok, error, t)
        self.counts[f"labels_{label.status}"] += 1
        self.counts["prompt_tokens"] += n_tok
        if on_label is not None:
            on_label(q, label)
        return label

    def calibrate(self, task: TaskSpec, queries: Sequence[Query]) -> float:
        """Freeze the ``median`` offset at the median raw margin over ``queries``.

        Returns:
            The threshold in nats.

        Raises:
            ValueError: No pointwise/episode query could be scored.
        """
        margins = []
        for q in queries:
            if not is_pair(q.kind):
                m, _, error = self._score_query(task, q)
                if not error:
                    margins.append(m[0])
        self.threshold = median_threshold(margins)
        return self.threshold

    def calibrated_verdict(self, label: Label) -> bool | None:
        """Yes/no verdict of an ``ok`` pointwise/episode label (``value > 0``), else ``None``."""
        if label.status != "ok" or label.value is None:
            return None
        return label.value > 0.0

    def metrics(self) -> dict[str, float]:
        """``judge/labels_<status>``, ``judge/prompt_tokens``, ``judge/gguf_*``, ``judge/threshold``."""
        out = {f"judge/{k}": float(v) for k, v in self.counts.items()}
        if self._scorer is not None:
            out["judge/gguf_evaluated_tokens"] = float(self._scorer.evaluated)
            out["judge/gguf_reused_tokens"] = float(self._scorer.reused)
        if self.threshold is not None:
            out["judge/threshold"] = self.threshold
        return out


def build_gguf_judge(cfg: JudgeConfig, task: TaskSpec, seed: int) -> GGUFJudge:
    """Factory builder for ``judge.type: gguf`` (``seed`` unused: scoring is deterministic).

    Raises:
        JudgeUnavailableError: llama-cpp-python or the model file is missing.
        ValueError: ``judge.form: pairwise`` (not supported by this judge).
    """
    import importlib.util

    from judgerl.judges.embedded import PackagedModelMissing, packaged_smollm2_path
    from judgerl.judges.factory import JudgeUnavailableError

    if importlib.util.find_spec("llama_cpp") is None:
        raise JudgeUnavailableError(LLAMA_HINT)
    if cfg.gguf.model_path is None:
        try:
            packaged_smollm2_path()
        except PackagedModelMissing as e:
            raise JudgeUnavailableError(str(e)) from e
    elif not Path(cfg.gguf.model_path).is_file():
        raise JudgeUnavailableError(f"judge.gguf.model_path {cfg.gguf.model_path} is not a file")
    if cfg.form == "pairwise":
        raise ValueError(
            "judge.type gguf answers yes/no questions only (small local models fail the A/B format); "
            "leave judge.form unset or use pointwise/episode: pairs are then judged by comparing yes/no margins"
        )
    # A small model's raw margin leans to one answer, so gguf calibrates by the
    # median unless judge.calibration was set explicitly.
    calibration: Calibration = cfg.calibration if "calibration" in cfg.model_fields_set else "median"
    view = View(show="captions", steps=cfg.captions_per_segment, keyframes=cfg.keyframes)
    prompt = cfg.prompt if cfg.prompt is not None and cfg.form == "pointwise" else "pointwise_yesno_v1"
    return GGUFJudge(
        cfg.gguf,
        task,
        calibration=calibration,
        question=cfg.question,
        contrast_question=cfg.contrast_question,
        view=view,
        prompt=prompt,
    )
