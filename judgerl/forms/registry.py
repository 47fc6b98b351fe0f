"""Feedback forms by name: ``query.kind`` in a config and ``Query.kind`` of a query name one.

A new form is one module with a class that follows ``FeedbackForm`` and one
``register_form`` call; the loop, the label store and the reward stage take it
from here. ``check_form`` (``judgerl.forms.check``) is run over every
registered form by the test suite.
"""

from __future__ import annotations

from judgerl.forms.base import FeedbackForm
from judgerl.types import Label, Provenance, Query

_FORMS: dict[str, FeedbackForm] = {}


def register_form(form: FeedbackForm, replace: bool = False) -> None:
    """Make ``form`` available under ``form.name``.

    Raises:
        ValueError: Another form already has that name and ``replace`` is False,
            or the form's ``arity`` is not a positive int.
    """
    if not isinstance(form.arity, int) or form.arity < 1:
        raise ValueError(f"form {form.name!r}: arity must be a positive int, got {form.arity!r}")
    old = _FORMS.get(form.name)
    if old is not None and old is not form and not replace:
        raise ValueError(f"feedback form {form.name!r} is already registered; pass replace=True to override it")
    _FORMS[form.name] = form


def unregister_form(name: str) -> None:
    """Remove a form (tests that add a toy form clean up with this)."""
    _FORMS.pop(name, None)


def get_form(name: str) -> FeedbackForm:
    """The form registered as ``name``.

    Raises:
        KeyError: Unknown name; the message lists the registered forms.
    """
    try:
        return _FORMS[name]
    except KeyError:
        raise KeyError(f"unknown feedback form {name!r}; registered forms: {', '.join(form_names())}") from None


def form_names() -> tuple[str, ...]:
    """Names of all registered forms, sorted."""
    return tuple(sorted(_FORMS))


def form_arity(name: str) -> int:
    """Segments per query of form ``name`` (``Query`` checks its segments against it).

    Raises:
        ValueError: Unknown form name.
    """
    form = _FORMS.get(name)
    if form is None:
        raise ValueError(f"unknown query kind {name!r}; registered feedback forms: {', '.join(form_names())}")
    return form.arity


def is_pair(kind: str) -> bool:
    """Whether queries of form ``kind`` show two items and are answered with a preference for the first.

    Judges answer such queries as they answer ``pairwise`` ones (``BothOrders``
    swaps them, preflight measures swap consistency); ``caption_pairs`` is one.

    Raises:
        ValueError: Unknown form name.
    """
    return form_arity(kind) == 2


def form_label(query: Query, answer: float | None, provenance: Provenance) -> Label:
    """The label a judge's ``answer`` to ``query`` makes, by the query's form (``FeedbackForm.label``).

    Judges compute their answer (a preference for two-segment forms, a score or
    verdict for one-segment ones) and leave the label -- which field, range
    checks, ``failed`` for a missing or invalid answer -- to the form.
    """
    return get_form(query.kind).label(query, answer, provenance)


def _register_builtins() -> None:
    from judgerl.forms.caption_pairs import CaptionPairsForm
    from judgerl.forms.episode import EpisodeForm
    from judgerl.forms.pairwise import PairwiseForm
    from judgerl.forms.pointwise import PointwiseForm

    for form in (PairwiseForm(), PointwiseForm(), EpisodeForm(), CaptionPairsForm()):
        register_form(form)


_register_builtins()
