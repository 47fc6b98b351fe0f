import dataclasses
import importlib.util

import pytest

from judgerl.tasks import get_task, list_tasks
from judgerl.tasks.check import TaskCheckError, check_task


@pytest.mark.parametrize("task_id", [t.id for t in list_tasks()])
def test_every_registered_task_passes_check(task_id):
    if task_id.startswith("humanoid/") and importlib.util.find_spec("mujoco") is None:
        pytest.skip("extra `mujoco` not installed: pip install 'judgerl[mujoco]'")
    check_task(get_task(task_id))


def _cartpole(**changes):
    return dataclasses.replace(get_task("cartpole/balance-v0"), id="test/broken-v0", **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"captioner": lambda obs: ""}, "non-empty str"),
        ({"captioner": lambda obs: 3}, "non-empty str"),
        ({"default_algo": "SAC"}, "SAC cannot act"),
        ({"default_algo": "A2C"}, "default_algo"),
        ({"env_id": "NoSuchEnv-v0"}, "does not build"),
        ({"question": ""}, "question is empty"),
        ({"instruction": " "}, "instruction is empty"),
        ({"segment_length": 1000}, "segment_length"),
        ({"success": lambda ret, obs: 1.0}, "success must return a bool"),
        ({"oracle_verdict": lambda seg: "yes"}, "oracle_verdict must return a bool"),
        ({"goal_text": "", "baseline_text": "a cart"}, "goal_text is empty"),
        ({"end_caption": " "}, "end_caption must be a non-empty str"),
        ({"modalities": ("video",)}, "modalities"),
        ({"mirror": lambda obs, acts: (obs + 1.0, acts)}, "mirror applied twice"),
        ({"mirror": lambda obs, acts: (obs[:, :2], acts)}, "mirror changed shapes"),
        ({"mirror": lambda obs, acts: (-obs, acts[0])}, "mirror failed|mirror changed shapes"),
        ({"explores": True}, "explores is set"),
    ],
)
def test_check_task_reports_broken_specs(changes, message):
    with pytest.raises(TaskCheckError, match=message) as err:
        check_task(_cartpole(**changes))
    assert "test/broken-v0" in str(err.value)


def test_check_task_rejects_unsupported_observation_space():
    # Blackjack has Tuple observations: no flat row layout for the label store (Box, Discrete and Dict have one).
    spec = _cartpole(env_id="Blackjack-v1", modalities=("captions",), max_episode_steps=100)
    with pytest.raises(TaskCheckError, match="cannot be stored"):
        check_task(spec)
