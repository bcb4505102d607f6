"""Atomic file writes: a reader never sees a half-written feed."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import xxhash

from syndication.kernel.lru import ByteLRU


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically unless the file already holds exactly these bytes."""
    return write_all([(path, data)])[0]


def write_all(files: Sequence[tuple[Path, bytes]]) -> list[bool]:
    """write_if_changed for several files (a channel's documents): whether each was written.

    Each changed file's bytes go to a temporary file beside it; the temporary files are flushed to disk
    together, then each is renamed over its file. So a reader sees each file whole, old or new, and a crash
    before a file's rename leaves that file as it was. One fsync after another waits for one journal commit
    each (~5 ms here, for each of the ~650 files of a first import); fsyncs issued together share commits.
    On an error no temporary file is left behind; files renamed before it keep their new bytes (as when
    written one by one)."""
    written = [False] * len(files)
    pending: list[tuple[int, Path, str, int]] = []  # (index, path, temporary file, its descriptor)
    try:
        for i, (path, data) in enumerate(files):
            if _holds(path, data):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            pending.append((i, path, tmp, fd))
            _write_fully(fd, data)
            os.fchmod(fd, 0o644)
        _fsync_together([fd for _, _, _, fd in pending])
        while pending:
            i, path, tmp, fd = pending[0]
            os.close(fd)
            pending[0] = (i, path, tmp, -1)
            os.replace(tmp, path)
            pending.pop(0)
            written[i] = True
    except BaseException:
        for _, _, tmp, fd in pending:
            if fd >= 0:
                os.close(fd)
            Path(tmp).unlink(missing_ok=True)
        raise
    return written


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


def _write_fully(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


_syncers: dict[int, ThreadPoolExecutor] = {}  # by process: a forked child makes its own
_syncers_lock = threading.Lock()


def _fsync_together(fds: list[int]) -> None:
    if len(fds) <= 1:
        for fd in fds:
            os.fsync(fd)
        return
    with _syncers_lock:
        pool = _syncers.get(os.getpid())
        if pool is None:
            pool = _syncers[os.getpid()] = ThreadPoolExecutor(8, thread_name_prefix="fsync")
    for _ in pool.map(os.fsync, fds):  # raises the first error
        pass


# Where an entry sits: (file, offset, length, the file's identity when its bytes were seen, the entry's digest).
_Location = tuple[str, int, int, tuple[int, int, int, int], bytes]
LOCATION_BYTES = 160  # a location's own bytes (ByteLRU adds its per-entry allowance for the key)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class EntryFiles:
    """Where the entries of the documents written sit in their files, to read an entry back rather than
    render it again (publish.feeds.FragmentCache.reread_from), within `max_bytes` of locations (~400 bytes
    each: an entry's location costs a twentieth of the entry).

    An entry is read back only from the file as it was when its location was noted: same device, inode, size
    and modification time. write_all replaces a file by renaming a new one over it (a new inode), so a file
    rewritten since, or changed by anything else, is not read; the entry is rendered again. The bytes read must
    also hash to what was noted: another publisher (scaled mode) may have renamed a same-size document over ours
    between our rename and the stat that noted it."""

    def __init__(self, max_bytes: int) -> None:
        self._where: ByteLRU[_Location] = ByteLRU(max_bytes, lambda _: LOCATION_BYTES)

    @property
    def max_bytes(self) -> int:
        return self._where.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self._where.max_bytes = value

    def note(self, path: Path, data: bytes, entries: Sequence[tuple[Hashable, bytes]]) -> None:
        """`path` was just written with `data` (or already held it), whose entries are `entries`, in order."""
        try:
            ident = _identity(path.stat())
        except OSError:
            return
        if ident[2] != len(data):
            return  # not the bytes we wrote: changed already
        where, pos = str(path), 0
        for key, entry in entries:
            # Spliced one after the other, at most a separator apart (",\n" in JSON): compared in place. A search
            # from `pos` finds the first one (after the document's head), or one a renderer placed otherwise.
            at = -1
            if pos:  # a loop, not a generator over the gaps: this runs for every entry of every document
                for gap in (0, 1, 2):
                    if data.startswith(entry, pos + gap):
                        at = pos + gap
                        break
            if at < 0:
                at = data.find(entry, pos)
                if at < 0:
                    return  # a renderer that does not splice entries as they are: nothing to read back
            self._where.put(key, (where, at, len(entry), ident, _entry_digest(entry)))
            pos = at + len(entry)

    def clear(self) -> None:
        self._where.clear()

    def __len__(self) -> int:
        return len(self._where)

    def read(self, key: Hashable) -> bytes | None:
        """The entry's bytes from the file it was noted in, if that file is unchanged."""
        loc = self._where.get(key)
        if loc is None:
            return None
        where, at, length, ident, digest = loc
        try:
            fd = os.open(where, os.O_RDONLY)
        except OSError:
            return None
        try:
            if _identity(os.fstat(fd)) != ident:
                return None
            data = os.pread(fd, length, at)
        except OSError:
            return None
        finally:
            os.close(fd)
        return data if len(data) == length and _entry_digest(data) == digest else None


def _entry_digest(entry: bytes) -> bytes:
    # XXH3-128, not blake2b: every entry of every document is hashed when noted (a first import notes ~190 MB of
    # entries), and blake2b was a twentieth of its publish. The digest tells our bytes from those of another
    # document of ours renamed over them (a race between publishers, not an adversary: whoever can rename files
    # into the feeds directory can write any bytes there); a non-cryptographic 128-bit hash tells them apart.
    return xxhash.xxh3_128_digest(entry)
