import difflib


class BenchError(Exception):
    """A problem with the user's input or environment: reported as one line, exit status 2."""


def did_you_mean(name: str, known) -> str:
    """'; did you mean 'x'?' for the closest known name, or '' when none is close."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def one_line(message: str) -> str:
    """A message as the command line prints it: line breaks inside it (from a
    value the user gave, quoted back) shown as \\n, so an error stays one line."""
    return message.strip().replace("\r", "\\r").replace("\n", "\\n")


def first_line(error: BaseException) -> str:
    """An exception's message cut to its first line (its type name when empty), for one-line errors."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class RunWriteError(BenchError):
    """The run folder cannot be written (disk full, a file-size limit, no
    permission): not the user's input, so exit status 1. What was written
    before stays as it was: every write is a temporary file renamed in place."""

    exit_code = 1


class Interrupted(BenchError):
    """Stopped by SIGINT (exit 130) or SIGTERM (exit 143) between two writes."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT raises KeyboardInterrupt, so that both stop
    a command the same way (and neither is caught as a failed point)."""
