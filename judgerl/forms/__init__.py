"""Feedback forms: what a judge is asked, what its answer means, and what a reward model fits on."""

from judgerl.forms.base import (
    FeedbackForm,
    PreferenceTargets,
    QueryPlan,
    TargetPlan,
    Targets,
    VerdictTargets,
    target_kind,
)
from judgerl.forms.mirror import plan_targets
from judgerl.forms.registry import form_names, get_form, is_pair, register_form, unregister_form

__all__ = [
    "FeedbackForm",
    "PreferenceTargets",
    "QueryPlan",
    "TargetPlan",
    "Targets",
    "VerdictTargets",
    "form_names",
    "get_form",
    "is_pair",
    "plan_targets",
    "register_form",
    "target_kind",
    "unregister_form",
]
