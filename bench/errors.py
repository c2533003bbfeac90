import difflib


class BenchError(Exception):
    """A problem with the user's input or environment: reported as one line, exit status 2."""


def did_you_mean(name: str, known) -> str:
    """'; did you mean 'x'?' for the closest known name, or '' when none is close."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def first_line(error: BaseException) -> str:
    """An exception's message cut to its first line (its type name when empty), for one-line errors."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
