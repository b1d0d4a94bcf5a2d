"""Writing output files safely: the one way every command writes a file.

Captures, plots, exports and reports all go through :func:`open_output` (a binary file
object), :func:`output_path` (a private temporary path, for writers that want a file name)
or :func:`write_output` (bytes). They guarantee:

* **never our own database**: the session store and its ``-wal``/``-shm``/``-journal``
  files are refused, even with ``--force`` (compared by inode and by resolved path): the
  store the command reads and the default one (``$EMGFEEDBACK_DB`` or the usual place),
  whatever the command; and no existing SQLite database at all (any other store);
* **only regular files**: a folder, a device such as ``/dev/null``, a FIFO or a socket at
  the target is refused (as root, replacing ``/dev/null`` would destroy the device node);
* **never through a symbolic link**: a link at the target is refused, so a planted link
  cannot redirect health data elsewhere;
* **no silent overwrite**: an existing file is replaced only with ``force=True``
  (``--force``); without it the final step is an atomic no-clobber link, so a file that
  appears while we write is not overwritten either;
* **private and atomic**: the data goes to a temporary file in the target's folder, created
  0600 whatever the umask (:func:`emgfeedback.host.create_private_file`), flushed and
  ``fsync``-ed, then renamed into place. On any error the temporary file is removed and the
  target is left as it was.

Problems the user can fix (missing folder, read-only folder, a folder given as the file)
raise :class:`~emgfeedback.errors.OutputError` with a message saying what to do.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from emgfeedback.errors import EmgFeedbackError
from emgfeedback.host import create_private_file, is_windows

#: SQLite's side files of a database ``X``: ``X-wal``, ``X-shm`` and ``X-journal``.
DB_SIDE_SUFFIXES = ("", "-wal", "-shm", "-journal")


class OutputError(EmgFeedbackError):
    """An output file cannot or must not be written (the message says what to do)."""


def database_files(db_path: str | os.PathLike | None) -> list[Path]:
    """The session database and its SQLite side files (whether they exist or not)."""
    if db_path is None:
        return []
    base = os.fspath(db_path)
    return [Path(base + suffix) for suffix in DB_SIDE_SUFFIXES]


def default_store_files() -> list[Path]:
    """The default session store (``$EMGFEEDBACK_DB`` or the usual place) and its side files.

    Protected from every output whatever the command: ``capture`` and ``analyze FILE`` do
    not open the store, yet ``--out``/``--plot`` naming it with ``--force`` would destroy
    every session in it.
    """
    from emgfeedback.storage.store import default_db_path

    return database_files(default_db_path())


def _same(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_target(path: str | os.PathLike, *, force: bool = False,
                 protect: Iterable[str | os.PathLike] = (), option: str = "--out") -> Path:
    """Check that ``path`` may be written, without writing anything.

    Parameters
    ----------
    path : path-like
        The file to write.
    force : bool
        Allow replacing an existing regular file.
    protect : iterable of path-like
        Files that must never be written (the session database: pass
        :func:`database_files` of it).
    option : str
        The option that named the file, for messages.

    Returns
    -------
    pathlib.Path
        ``path`` as a Path.

    Raises
    ------
    OutputError
        Saying what is wrong and what to do.
    """
    target = Path(path)
    if not target.name or target.name in (".", ".."):
        raise OutputError(f"{option} {path}: give a file name, not a folder")
    protect = [*protect, *default_store_files()]
    folder = target.parent
    try:
        fst = os.stat(folder)
    except FileNotFoundError:
        raise OutputError(f"{option} {path}: the folder {folder} does not exist; create it "
                          "first or choose another location") from None
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot reach the folder {folder} "
                          f"({exc.strerror})") from None
    if not stat.S_ISDIR(fst.st_mode):
        raise OutputError(f"{option} {path}: {folder} is not a folder")
    for other in protect:
        if _same(target, Path(other)):
            raise OutputError(f"{option} {path}: that is {Path(other).name}, the session "
                              "database or the recording this command reads; writing there "
                              "would destroy it. Choose another file name")
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot check it ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(f"{option} {path}: is a symbolic link; refusing to write through "
                          "it. Remove the link or write to the real file's path")
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{option} {path}: is a folder; give a file name inside it, e.g. "
                          f"{target / 'output'}")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{option} {path}: is not a regular file (a device, FIFO or "
                          "socket); refusing to replace it. Choose a file name")
    if _is_sqlite(target):  # a session store given with --db elsewhere: never an output
        raise OutputError(f"{option} {path}: is an SQLite database (a session store?); "
                          "refusing to replace it, even with --force. Choose another file name")
    if not force:
        raise OutputError(f"{option} {path}: the file exists; add --force to replace it, or "
                          "choose another name")
    return target


#: The first 16 bytes of every SQLite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")


def _create_temp(target: Path, option: str) -> tuple[int, Path]:
    for _ in range(10):
        tmp = _temp_name(target)
        try:
            return create_private_file(tmp, exclusive=True), tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(_os_message(option, target, exc)) from None
    raise OutputError(f"{option} {target}: cannot create a temporary file next to it")


def _os_message(option: str, target: Path, exc: OSError) -> str:
    folder = target.parent
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"{option} {target}: cannot write in the folder {folder} "
                f"({exc.strerror}); choose a writable folder")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{option} {target}: the disk is full ({exc.strerror}); nothing was written"
    if exc.errno == errno.EFBIG:
        return (f"{option} {target}: the file would be larger than this file system or the "
                f"process's file size limit allows ({exc.strerror}); nothing was written")
    if exc.errno is None and "written" in str(exc):  # a short write (edfio's check)
        return (f"{option} {target}: the file could not be written completely ({exc}): a "
                "full disk or a file size limit; nothing was written")
    if exc.errno == errno.EISDIR:
        return f"{option} {target}: is a folder; give a file name inside it"
    return f"{option} {target}: cannot write ({exc.strerror or exc})"


def _fsync_folder(folder: Path) -> None:
    if is_windows():  # a folder cannot be opened (or fsynced) there
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _commit(tmp: Path, target: Path, force: bool, protect, option: str) -> None:
    """Move the finished temporary file to ``target`` (checks again: the folder may change)."""
    check_target(target, force=force, protect=protect, option=option)
    try:
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # atomic and never replaces an existing name
            except FileExistsError:
                raise OutputError(f"{option} {target}: a file appeared there while writing; "
                                  "add --force to replace it") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP,
                                     errno.EXDEV, errno.EMLINK, errno.ENOSYS):
                    raise
                # A file system without hard links (FAT, some network shares).
                if os.path.lexists(target):
                    raise OutputError(f"{option} {target}: a file appeared there while "
                                      "writing; add --force to replace it") from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
    except OSError as exc:
        raise OutputError(_os_message(option, target, exc)) from None
    _fsync_folder(target.parent)


class PendingOutput:
    """A private temporary file that becomes the target on :meth:`commit`.

    Made by :func:`start_output`; for writers that cannot use a ``with`` block (a capture
    that streams for minutes). :meth:`discard` (or :meth:`commit` failing) removes the
    temporary file and leaves the target as it was.

    Attributes
    ----------
    file : file object
        Binary, or text (UTF-8, ``\\n`` line ends) when started with ``text=True``.
    target : pathlib.Path
        Where the file goes on commit.
    """

    def __init__(self, target: Path, *, force: bool, protect: list, option: str,
                 text: bool) -> None:
        self.target = target
        self._force, self._protect, self._option = force, protect, option
        fd, self._tmp = _create_temp(target, option)
        self._raw = os.fdopen(fd, "wb")
        self.file = (io.TextIOWrapper(self._raw, encoding="utf-8", newline="\n")
                     if text else self._raw)
        self._done = False

    def write(self, data):
        """Write to the temporary file (a disk error becomes an :class:`OutputError`)."""
        try:
            return self.file.write(data)
        except OSError as exc:
            raise OutputError(_os_message(self._option, self.target, exc)) from None

    def commit(self) -> Path:
        """Flush, fsync and move the file into place; returns the target."""
        if self._done:
            return self.target
        try:
            try:
                self.file.flush()
                os.fsync(self._raw.fileno())
            except OSError as exc:
                raise OutputError(_os_message(self._option, self.target, exc)) from None
            self._close()
            _commit(self._tmp, self.target, self._force, self._protect, self._option)
        finally:
            self.discard()
        return self.target

    def _close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.file.close()
        with contextlib.suppress(OSError, ValueError):
            self._raw.close()

    def discard(self) -> None:
        """Drop the temporary file (no-op after :meth:`commit`)."""
        self._done = True
        self._close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


def start_output(path: str | os.PathLike, *, force: bool = False,
                 protect: Iterable[str | os.PathLike] = (), option: str = "--out",
                 text: bool = False) -> PendingOutput:
    """Check ``path`` and start writing it (see :class:`PendingOutput`).

    Parameters are those of :func:`open_output`; ``text=True`` gives a UTF-8 text file.
    """
    protect = list(protect)
    target = check_target(path, force=force, protect=protect, option=option)
    return PendingOutput(target, force=force, protect=protect, option=option, text=text)


@contextlib.contextmanager
def open_output(path: str | os.PathLike, *, force: bool = False,
                protect: Iterable[str | os.PathLike] = (),
                option: str = "--out") -> Iterator[BinaryIO]:
    """Write a file safely (see the module docstring): yields a binary file object.

    Parameters
    ----------
    path : path-like
        The file to create (or replace with ``force``).
    force : bool
        Replace an existing regular file.
    protect : iterable of path-like
        Files never to write, e.g. ``database_files(db_path)``.
    option : str
        The option that named the file, for messages.

    Yields
    ------
    file object
        Open for binary writing on a private temporary file; it becomes ``path`` when the
        block ends without an exception.

    Raises
    ------
    OutputError
        If the target is not allowed or cannot be written; nothing is left behind.
    """
    pending = start_output(path, force=force, protect=protect, option=option)
    try:
        try:
            yield pending.file
        except OSError as exc:
            raise OutputError(_os_message(option, pending.target, exc)) from None
        pending.commit()
    finally:
        pending.discard()


@contextlib.contextmanager
def output_path(path: str | os.PathLike, *, force: bool = False,
                protect: Iterable[str | os.PathLike] = (),
                option: str = "--out") -> Iterator[Path]:
    """Like :func:`open_output`, for writers that take a file name.

    Yields the path of an empty private temporary file next to ``path``; the writer may
    write it or replace it (e.g. with its own atomic rename). When the block ends, the
    temporary file must be a regular file; it is made 0600, synced and moved to ``path``.
    """
    protect = list(protect)
    target = check_target(path, force=force, protect=protect, option=option)
    fd, tmp = _create_temp(target, option)
    os.close(fd)
    try:
        try:
            yield tmp
        except OSError as exc:  # the writer's disk error (full disk, quota): say so
            raise OutputError(_os_message(option, target, exc)) from None
        try:
            st = os.lstat(tmp)
            if not stat.S_ISREG(st.st_mode):
                raise OutputError(f"{option} {target}: the writer left no regular file")
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
            rfd = os.open(tmp, flags)
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(rfd, 0o600)
                os.fsync(rfd)
            finally:
                os.close(rfd)
        except OSError as exc:
            raise OutputError(_os_message(option, target, exc)) from None
        _commit(tmp, target, force, protect, option)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_output(path: str | os.PathLike, data: bytes, *, force: bool = False,
                 protect: Iterable[str | os.PathLike] = (), option: str = "--out") -> Path:
    """Write ``data`` to ``path`` safely (see :func:`open_output`); returns the path."""
    with open_output(path, force=force, protect=protect, option=option) as fh:
        fh.write(data)
    return Path(path)


def add_force_argument(parser) -> None:
    """The ``--force`` option of commands that write a file."""
    parser.add_argument("--force", action="store_true",
                        help="replace the output file if it exists (never a folder, device, "
                             "symbolic link or the session database)")
