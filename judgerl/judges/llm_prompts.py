"""Prompt templates and the rendering of segments into chat prompts.

Templates are versioned plain-text files in ``judgerl/judges/prompts/`` using
``string.Template`` placeholders (``$instruction``, ``$question``, ``$content``,
``$segment_a``, ``$segment_b``, ``$answer_format``, ``$media``; caption pairs:
``$message_1``, ``$message_2``), so JSON braces need no escaping. A template's
sha256 is recorded in every label; editing a template therefore changes the
judge id and invalidates cached labels.

A segment is shown as evenly spaced steps: their captions, their raw state as
numbers, or their rendered frames (sent as images after the prompt text). The
functions here are plain and model-agnostic so local chat judges (GGUF) can
reuse them for text prompts.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from judgerl.config import ClientConfig
from judgerl.forms.registry import is_pair
from judgerl.judges.client_media import image_part
from judgerl.types import Query, QueryKind, Segment, TaskSpec

Show = Literal["auto", "captions", "frames", "state"]
Mode = Literal["captions", "frames", "state"]

DEFAULT_PROMPTS: dict[str, str] = {
    "pairwise": "pairwise_v1",
    "pointwise": "pointwise_yesno_v1",
    "episode": "episode_verdict_v1",
}
# Forms whose prompts are not in DEFAULT_PROMPTS: a chat judge answers them only with judge.form set to the form,
# so its id (which hashes the prompts of the forms it answers) covers the prompt; judges built before a form
# existed keep their ids. caption_pairs_motif_v1 has Motif's chain of thought; caption_pairs_short_v1 answers at once.
EXTRA_PROMPTS: dict[str, str] = {"caption_pairs": "caption_pairs_motif_v1"}
# Seed 003's question; used when the task has no yes/no question of its own.
DEFAULT_EPISODE_QUESTION = "Do the actions of the agent align with human values?"
CONTENT_FREE = "N/A"  # Zhao et al. (2021) content-free input for calibration
_MEDIA = {"captions": "step descriptions", "frames": "images", "state": "state readings"}


@dataclass(frozen=True)
class PromptTemplate:
    """A named prompt template.

    Attributes:
        name: Packaged name (``pairwise_v1``) or the file path it came from.
        text: Template text with ``$placeholders``.
    """

    name: str
    text: str

    @property
    def sha(self) -> str:
        """sha256 hex digest of the template text."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def render(self, **fields: str) -> str:
        """Fill the placeholders; unknown placeholders in the text raise ``ValueError``."""
        try:
            return string.Template(self.text).substitute(fields)
        except KeyError as e:
            raise ValueError(f"prompt {self.name!r} uses placeholder ${e.args[0]} that is not provided") from None


def load_prompt(name: str) -> PromptTemplate:
    """Load a packaged template by name (``pairwise_v1``) or a ``.txt`` file by path.

    Raises:
        ValueError: No such template; the message lists the packaged ones.
    """
    if name.endswith(".txt") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"prompt file {name} does not exist")
        return PromptTemplate(str(path), path.read_text(encoding="utf-8"))
    folder = resources.files("judgerl.judges") / "prompts"
    file = folder / f"{name}.txt"
    if not file.is_file():
        known = sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))
        raise ValueError(f"unknown prompt {name!r}; packaged prompts: {', '.join(known)} (or give a .txt path)")
    return PromptTemplate(name, file.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class View:
    """How segments are shown to the judge.

    Attributes:
        show: ``auto`` (captions if present, else frames, else state), or a fixed mode.
        steps: Evenly spaced steps shown per pairwise/pointwise segment.
        keyframes: Evenly spaced steps shown per episode.
    """

    show: Show = "auto"
    steps: int = 5
    keyframes: int = 8


@dataclass(frozen=True)
class Rendered:
    """A prompt ready to send.

    Attributes:
        text: The prompt text.
        images: ``(group label, frame)`` pairs, frame ``(H, W, 3)`` uint8, in
            the order they follow the text.
    """

    text: str
    images: tuple[tuple[str, np.ndarray], ...] = ()

    def messages(self, cfg: ClientConfig) -> list[dict[str, Any]]:
        """One user message: the text, then each image group under its label.

        Raises:
            ValueError: Images for a client configured text-only (``vision=false``).
        """
        if self.images and not cfg.vision:
            raise ValueError(
                f"model {cfg.model!r} is configured text-only (judge.client.vision=false) but the prompt shows "
                "frames; set judge.show=captions, or use a vision model and judge.client.vision=true"
            )
        if not self.images:
            return [{"role": "user", "content": self.text}]
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.text}]
        last = None
        for label, frame in self.images:
            if label != last:
                parts.append({"type": "text", "text": f"{label}:"})
                last = label
            parts.append(image_part(frame, cfg.image_format, cfg.image_size, cfg.image_detail))
        return [{"role": "user", "content": parts}]


def select_steps(length: int, n: int) -> np.ndarray:
    """Indices of ``n`` evenly spaced steps of ``length``, always ending at the last step.

    Returns:
        Sorted unique indices, shape ``(min(n, length),)``.
    """
    if length <= 0:
        return np.zeros(0, dtype=int)
    if n <= 1:
        return np.array([length - 1])
    return np.unique(np.linspace(0, length - 1, min(n, length)).round().astype(int))


def choose_mode(task: TaskSpec, segment: Segment, show: Show) -> Mode:
    """What to show of ``segment``: the fixed ``show`` mode, or the best the task offers.

    Raises:
        ValueError: A fixed mode the segment has no data for.
    """
    if show == "captions" and not segment.captions:
        raise ValueError("show=captions but the segment has no captions (does the task produce them?)")
    if show == "frames" and segment.frames is None:
        raise ValueError("show=frames but the segment has no frames (set task.render=true)")
    if show != "auto":
        return show
    if "captions" in task.modalities and segment.captions:
        return "captions"
    if "frames" in task.modalities and segment.frames is not None:
        return "frames"
    return "state"


def describe(segment: Segment, mode: Mode, n: int, label: str) -> tuple[str, tuple[tuple[str, np.ndarray], ...]]:
    """Text for a segment's placeholder, and its frames when shown as images.

    Args:
        segment: The segment.
        mode: ``captions``, ``frames`` or ``state``.
        n: Steps to show (evenly spaced, ending at the last).
        label: Name of the image group (``Segment A``) for frames.

    Returns:
        ``(text, images)``; ``images`` is empty unless ``mode == "frames"``.
    """
    idx = select_steps(segment.length, n)
    if mode == "frames":
        assert segment.frames is not None
        text = f"({len(idx)} images in time order, shown below under '{label}')"
        return text, tuple((label, segment.frames[i]) for i in idx)
    if mode == "captions":
        return "\n".join(f"step {int(i)}: {segment.captions[i]}" for i in idx), ()
    rows = np.asarray(segment.obs, dtype=float).reshape(segment.length, -1)
    return "\n".join(f"step {int(i)}: [{', '.join(f'{x:.3f}' for x in rows[i])}]" for i in idx), ()


def _answer_format(allow_ties: bool) -> str:
    if allow_ties:
        return "Answer with a single word: A, B, or tie if neither is closer."
    return "Answer with a single letter: A or B."


def render_pairwise(template: PromptTemplate, task: TaskSpec, query: Query, view: View, allow_ties: bool) -> Rendered:
    """The pairwise prompt for ``query`` (segments A then B)."""
    a, b = query.segments
    mode = choose_mode(task, a, view.show)
    text_a, img_a = describe(a, mode, view.steps, "Segment A")
    text_b, img_b = describe(b, mode, view.steps, "Segment B")
    fields = {"instruction": task.instruction, "segment_a": text_a, "segment_b": text_b}
    fields["answer_format"] = _answer_format(allow_ties)
    return Rendered(template.render(**fields), img_a + img_b)


def asking(task: TaskSpec, question: str | None) -> TaskSpec:
    """The task as a prompt shows it: its yes/no question replaced by ``question`` when one is given."""
    return replace(task, question=question) if question else task


def render_pointwise(template: PromptTemplate, task: TaskSpec, segment: Segment | None, view: View) -> Rendered:
    """The yes/no prompt about one segment; ``segment=None`` gives the content-free prompt (``N/A``)."""
    question = task.question or f"Is the agent achieving its task: {task.instruction}?"
    if segment is None:
        return Rendered(template.render(instruction=task.instruction, content=CONTENT_FREE, question=question))
    mode = choose_mode(task, segment, view.show)
    text, images = describe(segment, mode, view.steps, "Segment")
    return Rendered(template.render(instruction=task.instruction, content=text, question=question), images)


def render_episode(template: PromptTemplate, task: TaskSpec, segment: Segment, view: View) -> Rendered:
    """Seed 003's three-question verdict prompt over an episode's keyframes."""
    mode = choose_mode(task, segment, view.show)
    text, images = describe(segment, mode, view.keyframes, "Episode")
    fields = {"instruction": task.instruction, "content": text, "media": _MEDIA[mode]}
    fields["question"] = task.question or DEFAULT_EPISODE_QUESTION
    return Rendered(template.render(**fields), images)


def caption_of(task: TaskSpec, segment: Segment) -> str:
    """The message a one-step caption segment shows, as the prompt prints it (an empty message is ``""``)."""
    from judgerl.forms.caption_pairs import is_empty_caption

    caption = segment.captions[0] if segment.captions else task.captioner(np.asarray(segment.obs)[0])
    return "" if is_empty_caption(caption) else " ".join(caption.split())


def render_caption_pair(template: PromptTemplate, task: TaskSpec, query: Query) -> Rendered:
    """Motif's prompt for a caption pair: the goal, then the two messages (each a segment's first caption)."""
    a, b = query.segments
    return Rendered(
        template.render(instruction=task.instruction, message_1=caption_of(task, a), message_2=caption_of(task, b))
    )


def render_query(
    templates: dict[str, PromptTemplate], task: TaskSpec, query: Query, view: View, form: QueryKind, allow_ties: bool
) -> Rendered:
    """Render ``query`` in feedback form ``form`` (one-segment forms use the first segment)."""
    if form == "pairwise":
        return render_pairwise(templates["pairwise"], task, query, view, allow_ties)
    if form == "caption_pairs":
        return render_caption_pair(templates["caption_pairs"], task, query)
    if form == "pointwise":
        return render_pointwise(templates["pointwise"], task, query.segments[0], view)
    return render_episode(templates["episode"], task, query.segments[0], view)


def chat_judge_id(
    cfg: ClientConfig,
    form: QueryKind | None,
    prompt_shas: dict[str, str],
    view: View,
    calibration: str,
    allow_ties: bool,
    question: str | None = None,
) -> str:
    """A chat judge's id: a hash of model, prompt shas, form, sampling, view, calibration and question.

    Deliberately no base_url and no key: the same model behind another URL gives the same
    labels. ``cfg.logprobs`` is the pointwise scale (log-prob margin vs 0/1 text): judges on
    the two never share labels. Only the prompts of the forms the judge answers are hashed.
    """
    forms = [form] if form else sorted(DEFAULT_PROMPTS)
    spec = {
        "model": cfg.model,
        "form": form,
        "prompts": {f: prompt_shas[f] for f in forms},
        "sampling": [cfg.temperature, cfg.max_tokens, cfg.logprobs, cfg.top_logprobs, cfg.json_mode],
        "images": [cfg.image_format, cfg.image_size, cfg.image_detail],
        "view": [view.show, view.steps, view.keyframes],
        "calibration": calibration,
        "allow_ties": allow_ties,
    }
    if question:  # only when set, so the ids of judges asking the task's own question stay as they were
        spec["question"] = question
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"openai:{cfg.model}:{digest}"


def answer_form(judge_form: QueryKind | None, query: Query) -> QueryKind:
    """The form a chat judge built for ``judge_form`` answers ``query`` in.

    Raises:
        ValueError: The judge cannot answer this kind of query.
    """
    form = judge_form or query.kind
    if form in EXTRA_PROMPTS and judge_form != form:
        # The id hashes only the prompts of the forms the judge was built for (judges built before these
        # forms existed keep their ids), so these forms are answered only when configured.
        raise ValueError(f"a chat judge answers {form} queries only with judge.form: {form} (or pointwise)")
    if form in ("pairwise", "caption_pairs") and query.kind != form:
        raise ValueError(f"a {form} judge cannot answer a {query.kind} query")
    if form == "episode" and is_pair(query.kind):
        raise ValueError(f"an episode-verdict judge cannot answer {query.kind} queries (use form=pointwise)")
    return form
