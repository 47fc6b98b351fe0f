import dataclasses

import pytest

from judgerl.tasks import UnknownTaskError, get_task, list_tasks, register_task
from judgerl.tasks import registry as registry_module


def test_builtin_tasks_are_registered():
    ids = {t.id for t in list_tasks()}
    assert {"pendulum/swingup-v0", "cartpole/balance-v0", "mountaincar/reach-flag-v0"} <= ids
    assert [t.id for t in list_tasks()] == sorted(ids)
    assert get_task("cartpole/balance-v0").env_id == "CartPole-v1"


def test_unknown_task_lists_ids_and_suggests_closest():
    with pytest.raises(UnknownTaskError) as err:
        get_task("pendulum/swingup-v1")
    msg = str(err.value)
    assert "Did you mean 'pendulum/swingup-v0'" in msg
    assert "cartpole/balance-v0" in msg and "mountaincar/reach-flag-v0" in msg
    # Callers may catch it as either a lookup error or a bad value.
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)


def test_unknown_task_without_close_match_has_no_suggestion():
    with pytest.raises(KeyError) as err:
        get_task("zzzzzz")
    assert "Did you mean" not in str(err.value)
    assert "Available tasks" in str(err.value)


def test_register_duplicate_and_overwrite():
    base = get_task("cartpole/balance-v0")
    register_task(base)  # the same object again is a no-op
    clone = dataclasses.replace(base, id="test/clone-v0")
    try:
        register_task(clone)
        assert get_task("test/clone-v0") is clone
        other = dataclasses.replace(clone, instruction="something else")
        with pytest.raises(ValueError, match="already registered"):
            register_task(other)
        register_task(other, overwrite=True)
        assert get_task("test/clone-v0") is other
    finally:
        registry_module._REGISTRY.pop("test/clone-v0", None)


def test_register_rejects_empty_id():
    with pytest.raises(ValueError, match="non-empty id"):
        register_task(dataclasses.replace(get_task("cartpole/balance-v0"), id=""))
