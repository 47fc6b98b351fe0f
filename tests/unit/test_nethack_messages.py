"""Prompts and key echoes are not game events; the hero's kills are counted (no nle needed: the rules read the text)."""

from __future__ import annotations

import pytest

from judgerl.envs.nethack_messages import game_events, hero_kills, is_prompt


@pytest.mark.parametrize(
    ("message", "events"),
    [
        ("In what direction?", ""),
        ("What do you want to eat? [fgi or ?*]", ""),
        ("Beware, there will be no return! Still climb? [yn] (n) n", ""),
        ("Really attack the kitten? [yn] (n)", ""),
        ("Unknown command '^M'.", ""),
        ("Unknown command '^M'. It's a wall.", "It's a wall."),
        ("What a strange direction! Never mind.", ""),
        ("You swap places with your kitten. It's a wall.", "You swap places with your kitten. It's a wall."),
        ("$ - a gold piece. Your gold rises to 1.", "$ - a gold piece. Your gold rises to 1."),
        ('Hello "Who are you?" he asks.', 'Hello "Who are you?" he asks.'),
        ("Ouch! That hurts!", "Ouch! That hurts!"),
    ],
)
def test_game_events_drop_prompts_and_key_echoes_and_keep_the_game(message: str, events: str) -> None:
    assert game_events(message) == events


def test_a_question_inside_a_sentence_is_not_a_prompt() -> None:
    assert is_prompt("Really attack the kitten? [yn] (n)") and not is_prompt('"Who are you?" he asks.')


@pytest.mark.parametrize(
    ("message", "kills"),
    [  # the kinds of line random play on nethack/score-v0 prints
        ("You kill the grid bug!", 1),
        ("You kill it!", 1),
        ("You destroy the kobold zombie!", 1),
        ("You kill the newt!  The jackal misses!", 1),
        ("You kill the newt!  You kill the jackal!", 2),
        ("The little dog bites the newt.  The newt is killed!", 0),  # the pet's kill
        ("The grid bug is killed!", 0),  # killed by something the hero did not see: not the hero's
        ("The kobold zombie is destroyed!", 0),
        ("You hit the jackal.", 0),
        ("", 0),
    ],
)
def test_hero_kills_counts_the_heros_kills_only(message: str, kills: int) -> None:
    assert hero_kills(message) == kills
