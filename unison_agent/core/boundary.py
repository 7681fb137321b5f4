"""The one boundary between names and files from outside and the disk: safe names, thread folders, the file guard.

- :func:`safe_name` maps any externally given name (a thread name, a batch line id, an MCP ``thread_id``, a file name
  derived from one) to a file name that is safe, unique and bounded; it refuses, before any work is done, what it
  cannot map (an empty name, a NUL byte). Every name from outside becomes a path through it.
- :func:`thread_dir`, :func:`outputs_dir`, :func:`uploads_dir` and :func:`lock_path` are the thread -> folder rule
  the graph, the Session and every face use.
- :class:`Boundary` is the file guard of the faces that serve others (the LangChain tool, MCP, the web UI): a file
  a request names must lie inside the folders it allows, compared after resolving ``..`` and symlinks, and is
  **read as it was checked**: :meth:`Boundary.admit` opens it once, checks the file it opened (not the name again),
  and copies those bytes into the boundary's own folder; only the copy is used afterwards, so a file swapped for
  a symlink between the check and the use cannot bring outside bytes in.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import string
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from unison_agent.contract.errors import AccessError, MediaError, UnisonError

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.media.files import MediaLimits

NAME_MAX = 64
"""A name this long or shorter that needs no change is kept as it is; anything else becomes slug + hash."""
SLUG_MAX = 40
"""How many characters of the readable slug a changed name keeps (before ``-<16 hex digits>``)."""
_PLAIN = frozenset(string.ascii_lowercase + string.digits + "-_.")
_SLUG = frozenset(string.ascii_letters + string.digits + "-_.")
_HASH_TAIL = 17  # "-" + 16 hex digits
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)


def _shown(name: str) -> str:
    """A name as a message shows it: repr-escaped (control characters visible), at most 80 characters."""
    text = repr(name)
    return text if len(text) <= 80 else text[:60] + f"...' ({len(name)} characters)"


def _looks_hashed(name: str) -> bool:
    tail = name[-_HASH_TAIL:]
    return len(name) > _HASH_TAIL and tail[0] == "-" and all(c in "0123456789abcdef" for c in tail[1:])


def _refuse_unmappable(name: str, what: str) -> None:
    if not isinstance(name, str):
        raise UnisonError(f"{what} must be text, got {type(name).__name__}")
    if "\x00" in name:
        raise UnisonError(f"{what} {_shown(name)} contains a NUL byte; use letters, digits, '-', '_' or '.'")
    if not name.strip():
        raise UnisonError(f"{what} is empty; give a name with at least one letter or digit")


def _plain(name: str) -> bool:
    return (
        len(name) <= NAME_MAX
        and set(name) <= _PLAIN
        and not name.startswith(".")
        and not _looks_hashed(name)
        and name.split(".")[0] not in _WINDOWS_DEVICES
    )


def _hashed(name: str, readable: str, ext: str = "") -> str:
    slug = "".join(c if c in _SLUG else "_" for c in readable[: SLUG_MAX * 2]).lstrip(".")[:SLUG_MAX] or "_"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{slug}-{digest}{ext}"


def safe_name(name: str, what: str = "name") -> str:
    """``name`` as one safe file name: kept when it is short lower-case ``[a-z0-9-_.]`` (not starting with a dot),
    else a readable slug plus ``-`` and 16 hex digits of its SHA-256. Distinct names give distinct results (also on
    case-insensitive file systems); the result never contains a separator, never is ``.``/``..`` and has at most
    64 characters. A :class:`~unison_agent.contract.errors.UnisonError` for what cannot be a name (not text, empty, or with
    a NUL byte), naming ``what`` it was (``"thread"``, ``"batch id"``...)."""
    _refuse_unmappable(name, what)
    return name if _plain(name) else _hashed(name, name)


_EXT_CHARS = frozenset(string.ascii_lowercase + string.digits)


def safe_file_name(name: str, what: str = "file name") -> str:
    """Like :func:`safe_name`, keeping a file's extension (lower-cased) at the end: ``Fox Photo.PNG`` ->
    ``Fox_Photo-<hash>.png``, ``fox.png`` -> ``fox.png``. Distinct names give distinct results."""
    _refuse_unmappable(name, what)
    stem, ext = os.path.splitext(name)
    if not (1 < len(ext) <= 9 and set(ext[1:].lower()) <= _EXT_CHARS) or not stem:
        stem, ext = name, ""
    if _plain(name) and not _looks_hashed(stem):
        return name
    return _hashed(name, stem, ext.lower())


def within(root: str | os.PathLike[str], name: str, what: str = "name", suffix: str = "") -> Path:
    """``root/<safe_name(name)><suffix>``: a path that lies inside ``root`` whatever ``name`` is."""
    return Path(root) / f"{safe_name(name, what)}{suffix}"


# ----------------------------------------------------------------------------------------------------------
# the thread -> folder rule


def thread_dir(root: str | os.PathLike[str], thread: str) -> Path:
    """The folder of ``thread`` under ``root`` (``outputs/<thread>``, ``uploads/<thread>``)."""
    return within(root, thread, "thread")


def outputs_dir(settings, thread: str) -> Path:
    """Where a thread's generations and annotations go: ``<outputs_dir>/<safe thread>``."""
    return thread_dir(Path(settings.outputs_dir).resolve(), thread)


def uploads_root(settings) -> Path:
    """``<home>/uploads``: the web UI's uploads, one folder per thread."""
    return Path(settings.home).resolve() / "uploads"


def uploads_dir(settings, thread: str) -> Path:
    """Where the web UI copies a thread's uploads: ``<home>/uploads/<safe thread>``."""
    return thread_dir(uploads_root(settings), thread)


def lock_path(settings, thread: str) -> Path:
    """The lock file of ``thread`` in ``settings.threads_db``: one per (database, thread), under ``<home>/locks``."""
    key = hashlib.sha256(f"{settings.threads_db}\0{thread}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return Path(settings.home) / "locks" / f"thread-{safe_name(thread, 'thread')[:40]}-{key}.lock"


# ----------------------------------------------------------------------------------------------------------
# the file guard


def check_file_name(raw: str, what: str = "file") -> str:
    """``raw`` unless it cannot be a file name given from outside: not text, empty, or with a control character
    (a NUL byte, a newline: it would silently stop being a ``###path###`` mention)."""
    if not isinstance(raw, str):
        raise UnisonError(f"{what} must be a path (text), got {type(raw).__name__}")
    bad = sorted({c for c in raw if ord(c) < 32 or ord(c) == 127})
    if bad:
        names = ", ".join(repr(c) for c in bad)
        raise UnisonError(f"{what} {_shown(raw)} contains control characters ({names}); rename the file")
    if not raw.strip():
        raise UnisonError(f"{what} is empty; give a file path")
    return raw


@dataclass(frozen=True)
class Boundary:
    """What a face that serves others may read, and where it keeps the checked copies.

    ``allowed``: folders whose files may be named (``settings.allowed_dirs``); ``trusted``: folders only this
    process writes (its outputs, its uploads): their files are used in place. ``store``: where :meth:`admit` keeps
    the checked copies (content-addressed, each with the files it was copied from beside it). ``who`` and ``hint``
    word the refusal."""

    allowed: tuple[Path, ...]
    trusted: tuple[Path, ...]
    store: Path
    who: str = "this caller"
    hint: str = "add its folder to settings.allowed_dirs (env UNISON_ALLOWED_DIRS)"
    limits: MediaLimits | None = None
    """The media caps; a file over ``limits.file_bytes`` is refused before it is copied."""

    @classmethod
    def build(
        cls,
        allowed: Sequence[str | os.PathLike[str]],
        trusted: Sequence[str | os.PathLike[str]],
        store: str | os.PathLike[str],
        **kw,
    ) -> Boundary:
        resolved = tuple(Path(p).expanduser().resolve() for p in trusted)
        allowed_dirs = tuple(Path(p).expanduser().resolve() for p in allowed)
        return cls(allowed_dirs, resolved, Path(store).expanduser().resolve(), **kw)

    def refusal(self, raw: str) -> AccessError:
        """The refusal: the path only as the caller gave it (never what it resolves to), and what to do."""
        configured = ", ".join(str(d) for d in self.allowed) or "none configured"
        return AccessError(
            f"access to {raw} is not allowed: {self.who} reads files only inside allowed_dirs ({configured}) and "
            f"the files it keeps itself. To open a folder, {self.hint}."
        )

    @staticmethod
    def _inside(path: Path, roots: Sequence[Path]) -> bool:
        return any(path.is_relative_to(d) for d in roots)

    def check(self, raw: str) -> Path:
        """The resolved path when ``raw`` lies inside the boundary; an :class:`AccessError` otherwise. A checked copy
        counts as inside only while a file it was copied from still lies inside ``allowed`` (the boundary of now,
        not of when it was copied)."""
        check_file_name(raw)
        try:
            path = Path(raw).expanduser().resolve()
        except (OSError, RuntimeError):  # a symlink loop, an unreadable folder
            raise self.refusal(raw) from None
        if self._inside(path, (self.store,)):
            origins = _origins(path)
            if not any(self._inside(Path(o), self.allowed) for o in origins):
                raise self.refusal(origins[0] if origins else raw)
            return path
        if not self._inside(path, (*self.allowed, *self.trusted)):
            raise self.refusal(raw)
        return path

    def __call__(self, raw: str) -> None:
        self.check(raw)

    def allows(self, raw: str) -> bool:
        try:
            self.check(raw)
        except UnisonError:
            return False
        return True

    def admit(self, raw: str) -> str:
        """The path to use for ``raw`` from now on: itself when it lies in a trusted folder, else a copy of the
        bytes of the file actually opened, made after checking that very file (its device and inode equal those
        of the resolved path, which lies inside ``allowed``). A FIFO or device is refused without blocking."""
        path = self.check(raw)
        if self._inside(path, (*self.trusted, self.store)):
            return str(path)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise MediaError(f"{raw}: no such file; check the path") from None
        except OSError as exc:  # ELOOP: the resolved name became a symlink since it was resolved
            raise AccessError(f"{raw}: cannot be opened ({exc.strerror}); it was not read") from None
        with os.fdopen(fd, "rb") as f:
            opened = os.fstat(f.fileno())
            real = Path(os.path.realpath(path))
            try:
                now = os.stat(real)
            except OSError:
                raise self.refusal(raw) from None
            if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino) or not self._inside(real, self.allowed):
                raise AccessError(f"{raw} changed while it was being opened; it was not read. Try again.")
            if not stat.S_ISREG(opened.st_mode):
                raise AccessError(f"{raw}: is not a regular file (a FIFO, device or folder); give an image or video")
            limits = self.limits
            if limits is not None and opened.st_size > limits.file_bytes:
                raise limits.refuse(raw, f"the file has {opened.st_size:,} bytes", "file_bytes")
            return str(self._copy(f, path.name, real))

    def _copy(self, f, name: str, origin: Path) -> Path:
        """Stream the opened file into the store (hashing as it goes, never more than the byte cap), then move it
        to ``<store>/<sha256[:16]>/<name>``; record ``origin`` beside it."""
        cap = self.limits.file_bytes if self.limits is not None else None
        self.store.mkdir(parents=True, exist_ok=True)
        tmp = self.store / f".incoming-{os.getpid()}-{threading.get_ident()}"
        digest, size = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as out:
                while chunk := f.read(1 << 20):
                    size += len(chunk)
                    if cap is not None and size > cap:  # it grew after the check
                        raise self.limits.refuse(name, f"the file has more than {cap:,} bytes", "file_bytes")
                    digest.update(chunk)
                    out.write(chunk)
            dest = self.store / digest.hexdigest()[:16] / name
            if dest.is_file() and dest.stat().st_size == size:
                tmp.unlink()
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        origins = _origins(dest)
        if str(origin) not in origins:
            _write(_origins_file(dest), json.dumps([*origins, str(origin)]).encode())
        return dest


def _origins_file(copy: Path) -> Path:
    return copy.with_name(f".{copy.name}.origins")


def _origins(copy: Path) -> list[str]:
    """The files a checked copy was made from (resolved paths), as recorded beside it."""
    try:
        data = json.loads(_origins_file(copy).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(o) for o in data] if isinstance(data, list) else []


def _write(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` whole or not at all (a hidden temporary name, then a rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)
