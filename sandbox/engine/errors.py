"""Errors the engine raises."""

from __future__ import annotations


class Rejected(Exception):
    """An action the rules refuse. The message is a sentence a learner can act on.

    A rejected action changes nothing: engine functions build a new account and only
    return it when every rule is satisfied.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
