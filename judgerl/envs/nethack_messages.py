"""Which NetHack messages are the interface talking to the player, not the game world changing.

A message line that asks the player something ("In what direction?", "What do
you want to eat? [fgi or ?*]", "Really attack the kitten? [yn] (n)") or echoes
a key the game did not understand ("Unknown command '^M'.", "What a strange
direction!", "Never mind.") says nothing about progress. Under Motif's reward
each variant of a prompt is a new message for the count decay, and an agent
that learns to open menus is paid again and again: the reward audit of the
500k NetHack runs found prompts among the messages paid most (decision 0046).
:func:`game_events` removes them, so a caption built from it names only what
happened in the game.

The rules read the text alone:

- a message that *ends* in a question (``?``, optionally followed by a choice
  list ``[...]``, a default ``(n)`` and the key typed) is a prompt, and the
  whole line goes: the words before the question are its preamble
  ("Beware, there will be no return! Still climb? [yn] (n)");
- a sentence that starts with one of :data:`KEY_ECHOES` is removed wherever it
  stands, the rest of the line is kept.

:func:`hero_kills` reads one more thing off the line: how many monsters the
hero killed this step, for the ``kills`` fact that measures the combat goal.
"""

from __future__ import annotations

import re

# The question mark, then what NetHack prints after a prompt: a choice list, the default answer, the key typed.
_PROMPT_END = re.compile(r"\?(\s*\[[^\]]*\])?(\s*\([^)]*\))?(\s*\S)?\s*$")

KEY_ECHOES: tuple[str, ...] = ("Unknown command", "What a strange direction!", "Never mind.")
"""Sentence openings of NetHack's replies to a key it cannot use: interface, not game events."""

# NetHack's words for a monster the hero killed ("You kill the newt!", "You kill it!", undead: "You destroy the
# kobold zombie!"). A pet's kill reads "The little dog bites the newt.  The newt is killed!", and a kill by
# something the hero did not see "The newt is killed!": neither is the hero's.
_HERO_KILL = re.compile(r"\bYou (kill|destroy) ")

# A sentence: up to and including its end mark(s) and the quote or space after it.
_SENTENCE = re.compile(r"[^.!?]*[.!?]+['\"]?\s*|[^.!?]+$")


def is_prompt(message: str) -> bool:
    """Whether a message line ends by asking the player something (a question, a menu, a yes/no)."""
    return bool(_PROMPT_END.search(message))


def game_events(message: str) -> str:
    """The message line without prompts and key echoes (``""`` when nothing else is left).

    Args:
        message: One decoded message line (whitespace already collapsed).

    Returns:
        The remaining sentences, joined by single spaces.
    """
    if is_prompt(message):
        return ""
    kept = [s.strip() for s in _SENTENCE.findall(message) if s.strip() and not s.strip().startswith(KEY_ECHOES)]
    return " ".join(kept)


def hero_kills(message: str) -> int:
    """How many monsters the hero killed, by the message line of one step ("You kill the newt!": 1; a pet's kill: 0)."""
    return len(_HERO_KILL.findall(message))
