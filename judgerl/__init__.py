"""judgerl: reinforcement learning from AI feedback.

Pipeline: tasks → envs → queries → judges → labels → reward → agents → evaluation;
``judgerl.loop.run`` ties the stages together.
"""

__version__ = "0.1.0"
