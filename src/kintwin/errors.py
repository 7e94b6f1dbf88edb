"""kintwin's exceptions: what the command line turns into an exit code and one line of advice.

* ``InputError`` (a ``ValueError``): a file, option or combination we cannot use as given; the
  command stops before doing any work and exits 2.
* ``RefusedError``: the input is valid but the result would not be trustworthy (a trial on stairs,
  a twin that fell, an interrupted training run); exit 3.

Both carry an optional ``advice`` (what to do about it), printed after the message.
"""

from __future__ import annotations

EXIT_OK, EXIT_BAD_INPUT, EXIT_UNTRUSTWORTHY = 0, 2, 3


class KintwinError(Exception):
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, advice: str | None = None):
        super().__init__(message)
        self.advice = advice

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.advice})" if self.advice else text


class InputError(KintwinError, ValueError):
    """Bad input: a file, option, unit or convention we cannot use as given (exit 2)."""


class RefusedError(KintwinError):
    """Valid input whose result would not be trustworthy (exit 3)."""

    exit_code = EXIT_UNTRUSTWORTHY
