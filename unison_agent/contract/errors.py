"""The project's error types.

Every error a user can cause derives from :class:`UnisonError`; its message says what was wrong and,
where there is one, what to do about it. The CLI prints these without a traceback.
"""

from __future__ import annotations


class UnisonError(Exception):
    """Base class for errors caused by input, settings or missing weights (not by bugs)."""


class PlanError(UnisonError, ValueError):
    """A plan does not satisfy the plan contract. The message names the field and the allowed values."""


class ProtocolError(UnisonError, ValueError):
    """Planner output could not be decoded. ``raw`` keeps the planner's text as it was."""

    def __init__(self, message: str, raw: str):
        super().__init__(f"{message} (planner output: {raw!r})")
        self.raw = raw


class MediaError(UnisonError, ValueError):
    """A file named in a request is missing, unreadable or of an unsupported kind."""


class SettingsError(UnisonError, ValueError):
    """A setting (flag or environment variable) has an invalid value."""


class AccessError(UnisonError, PermissionError):
    """A file lies outside what this caller may read (the LangChain tool's ``allowed_dirs``)."""


class ThreadBusy(UnisonError):
    """Another process (or session) is running a turn on the same thread and did not finish within ``thread_wait``."""


class TurnCancelled(UnisonError):
    """The person stopped the running turn (``Session.cancel()``, a Stop button): the step ends, the thread stays."""


class WeightsError(UnisonError, FileNotFoundError):
    """A model directory or weight file is missing or does not have the expected layout."""


def describe_os_error(exc: OSError, what: str = "") -> str:
    """One line for an operating-system error on our own files: the path, what went wrong, what to do."""
    import errno

    path = exc.filename or what or "a file"
    reason = exc.strerror or str(exc)
    advice = {
        errno.ENOSPC: "free some space on that disk or move UNISON_HOME (--home) to another",
        errno.EDQUOT: "free some space on that disk or move UNISON_HOME (--home) to another",
        errno.EACCES: "make it writable, or point UNISON_HOME (--home) at a folder you can write",
        errno.EROFS: "point UNISON_HOME (--home) at a writable folder",
        errno.ENOTDIR: "a file stands where a folder is needed; move it away, or point UNISON_HOME (--home) elsewhere",
        errno.EEXIST: "a file stands where a folder is needed; move it away, or point UNISON_HOME (--home) elsewhere",
    }.get(exc.errno or 0, "check the path and its permissions, or point UNISON_HOME (--home) elsewhere")
    return f"cannot use {path}: {reason}; {advice}"


def log_internal_error(settings, exc: BaseException) -> str:
    """Append ``exc``'s traceback to ``<home>/logs/errors.log`` (a bug, not the person's mistake); the log's path."""
    import time
    import traceback
    from pathlib import Path

    path = Path(settings.home) / "logs" / "errors.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {type(exc).__name__}: {exc}\n")
            f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    except OSError:  # the log itself cannot be written: say so instead of hiding the bug
        return f"{path} (not writable; {type(exc).__name__}: {exc})"
    return str(path)
