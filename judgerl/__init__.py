"""judgerl: reinforcement learning from AI feedback.

Pipeline: tasks → envs → queries → judges → labels → reward → agents → evaluation;
``judgerl.loop.run`` ties the stages together.

Importing the package registers judgerl's gymnasium environments by id (as
Gymnasium's convention asks), without importing them: ``gym.make("homegrid/cat-values-v0")``
works after ``import judgerl``.
"""

__version__ = "0.1.0"


def _register_envs() -> None:
    import gymnasium as gym

    # A string entry point: the env's module is imported only when the env is made.
    if "homegrid/cat-values-v0" not in gym.registry:
        gym.register("homegrid/cat-values-v0", entry_point="judgerl.envs.homegrid:HomegridEnv", max_episode_steps=100)


_register_envs()
