"""A least-recently-used map bounded by the bytes of its values (plus a per-entry allowance for keys and
bookkeeping), safe across threads. For caches whose entries differ a lot in size (published files, gzip
encodings): a bound by count would let a few large documents take hundreds of MB."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

V = TypeVar("V")

ENTRY_OVERHEAD = 256  # bytes: key, tuple and dict slot of an entry, roughly


class ByteLRU(Generic[V]):
    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            self._entries.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: V) -> None:
        size = self._size_of(value) + ENTRY_OVERHEAD
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:  # larger than the whole cache: served, not kept
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, gone) = self._entries.popitem(last=False)
                self._bytes -= gone

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


class LiveMemo(Generic[V]):
    """A value made from an object, kept while that object lives and within `max_bytes` of values (plus
    ENTRY_OVERHEAD each), least recently used first out.

    For values that are costly to make and asked for several times while their object is in use (an item's
    digest and footer, made once for its four formats). The memo holds the object weakly: holding it would keep
    alive everything it refers to (a published item's body, attribution, rows' strings: ~3x what a bound could
    count) long after the channel that loaded it was written. An entry is found by the object's id() and only
    while the weak reference still names that very object, so an id reused by a later object never finds a dead
    object's value; a dead object's entry is dropped at the next lookup (its weak reference's callback only
    notes it: the callback may run on any thread, inside this memo's own lock). Objects that take no weak
    reference are not memoised (their value is made each time)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, tuple[weakref.ref[object], V, int]] = OrderedDict()
        self._bytes = 0
        self._dead: deque[int] = deque()
        self._lock = threading.Lock()

    def get(self, obj: object, make: Callable[[], tuple[V, int]]) -> V:
        """The value memoised for `obj`, else make() → (value, its size in bytes), kept if it fits."""
        key = id(obj)
        with self._lock:
            self._drop_dead()
            seen = self._entries.get(key)
            if seen is not None and seen[0]() is obj:
                self._entries.move_to_end(key)
                return seen[1]
        value, size = make()
        size += ENTRY_OVERHEAD
        if size > self.max_bytes:
            return value  # larger than the whole memo: made each time, not kept
        try:
            ref = weakref.ref(obj, partial(_note_dead, self._dead, key))
        except TypeError:
            return value
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            self._entries[key] = (ref, value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, _, gone) = self._entries.popitem(last=False)
                self._bytes -= gone
        return value

    def _drop_dead(self) -> None:
        while self._dead:
            key = self._dead.popleft()
            seen = self._entries.get(key)
            if seen is not None and seen[0]() is None:  # not a live object that took the id since
                del self._entries[key]
                self._bytes -= seen[2]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._dead.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        with self._lock:
            self._drop_dead()
            return len(self._entries)


def _note_dead(dead: deque[int], key: int, _ref: object) -> None:
    dead.append(key)  # no lock: the memo drops the entry at its next lookup
