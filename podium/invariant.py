"""Invariant checks that survive `python -O` (unlike `assert`)."""


class InvariantError(AssertionError):
    """A condition the code relies on does not hold: a bug, never user input."""


def invariant(condition: object, message: str) -> None:
    if not condition:
        raise InvariantError(message)
