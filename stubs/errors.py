"""Errors that mean "the stub world cannot answer this", as opposed to errors pyscript/HA raise."""


class StubLimitation(NotImplementedError):
    """The app used something the stubs do not model (e.g. ``task.sleep``, a state-trigger expression).

    Never swallowed: it propagates out of the env call that ran the app code, even if the app
    caught it with ``except Exception`` (the env remembers it and re-raises at the end).
    """


class PyscriptIncompatible(SyntaxError):
    """Code that would not run (or would silently run differently) under pyscript 1.7.0's interpreter.

    Raised when the app file or a ``pyscript/modules`` module is loaded (see stubs/compat.py).
    """


FATAL = (StubLimitation, PyscriptIncompatible)
