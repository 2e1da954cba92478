"""Notes that outlive the process that wrote them, at the cost of a store into memory: a file of
this host mapped into the process (`mmap`), one file a thread. A note is packed straight into the
file's pages, with no system call; when the process is killed the kernel still holds those
pages, and whoever opens the file next reads them.

Each file is locked (`flock`) by the process that writes it for as long as it lives, and the
kernel lets go of the lock when it dies, however it dies. A file nobody holds is an orphan: its
notes are what a dead process left unfinished, read back by `orphans_take` (once: taken files
are removed). The host's own state, so it serves what its processes need to survive their own
death; what a lost host wrote is lost with it.

A note is written before the count that makes it visible, so a process killed in the middle of
one leaves the notes before it and never half a note."""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

_COUNT = struct.Struct("<Q")  # the file's first 8 bytes: how many notes follow
SUFFIX = ".journal"


class LocalJournal:
    """One thread's notes: `note` appends, `clear` forgets them all. Open with `for_thread`."""

    def __init__(self, directory: Path, record: struct.Struct, capacity: int) -> None:
        # The count then changes only its first byte, a store no kill can interrupt halfway.
        if not 0 < capacity < 256:
            raise ValueError("A local journal holds 1 to 255 notes.")
        directory.mkdir(parents=True, exist_ok=True)
        self.record = record
        self.capacity = capacity
        self.pid = os.getpid()
        descriptor, self.path = tempfile.mkstemp(
            dir=directory, prefix=f"{self.pid}-", suffix=SUFFIX
        )
        self.file = os.fdopen(descriptor, "r+b")
        # Held while this process lives: the file is not an orphan.
        fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        size = _COUNT.size + record.size * capacity
        self.file.truncate(size)
        self.map = mmap.mmap(self.file.fileno(), size)
        self.count = 0

    def note(self, *values: object) -> bool:
        """Append one note (the record's values); False when the journal is full."""
        if self.count >= self.capacity:
            return False
        self.record.pack_into(self.map, _COUNT.size + self.count * self.record.size, *values)
        self.count += 1
        _COUNT.pack_into(self.map, 0, self.count)  # its first byte: all or nothing
        return True

    def clear(self) -> None:
        self.count = 0
        _COUNT.pack_into(self.map, 0, 0)

    def notes(self) -> list[tuple]:
        """The notes as a reader of the file finds them."""
        return _notes(self.map, self.record)

    def __len__(self) -> int:
        return self.count


_journals = threading.local()


def for_thread(directory: Path, record: struct.Struct, capacity: int) -> LocalJournal:
    """This thread's journal in `directory`, opened on first use (again in a forked child: a
    parent's file and lock are not the child's)."""
    journal = getattr(_journals, str(directory), None)
    if journal is None or journal.pid != os.getpid():
        journal = LocalJournal(directory, record, capacity)
        setattr(_journals, str(directory), journal)
    return journal


def _notes(data: bytes | mmap.mmap, record: struct.Struct) -> list[tuple]:
    if len(data) < _COUNT.size:
        return []
    [count] = _COUNT.unpack_from(data, 0)
    count = min(count, (len(data) - _COUNT.size) // record.size)
    return [record.unpack_from(data, _COUNT.size + i * record.size) for i in range(count)]


def orphans_take(
    directory: Path, record: struct.Struct, keep: Callable[[list[tuple]], bool]
) -> int:
    """Hand the notes of every orphaned file in `directory` to `keep`; a file whose notes it
    kept (it returned True) is removed, the others are left for the next call. Files of living
    processes, this one's included, are not touched. Returns how many notes were kept."""
    kept = 0
    for notes, remove in _orphans(directory, record):
        if not notes or keep(notes):
            kept += len(notes)
            remove()
    return kept


def _orphans(
    directory: Path, record: struct.Struct
) -> Iterator[tuple[list[tuple], Callable[[], None]]]:
    try:
        paths = sorted(directory.glob(f"*{SUFFIX}"))
    except OSError:
        return
    for path in paths:
        try:
            file = open(path, "r+b")  # noqa: SIM115 — closed below, after its lock is used
        except OSError:
            continue  # removed meanwhile by another process's call
        with file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its process lives (or another call is taking it)
            if os.fstat(file.fileno()).st_nlink == 0:
                continue  # taken and removed by another call between our open and our lock

            def remove(file=file, path=path) -> None:
                file.seek(0)
                file.write(_COUNT.pack(0))  # whoever opened it before the unlink finds nothing
                file.flush()
                with suppress(FileNotFoundError):
                    os.unlink(path)

            yield _notes(file.read(), record), remove
