"""steward.local_journal: notes in a mapped file that outlive the process that wrote them."""

import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from steward import local_journal

NOTE = struct.Struct("<qqii")
ROOT = Path(__file__).resolve().parents[2]


def test_notes_are_read_back_in_order_and_cleared(tmp_path):
    journal = local_journal.LocalJournal(tmp_path, NOTE, capacity=3)
    assert journal.note(1, 10, 5, 200)
    assert journal.note(2, 20, 6, 201)
    assert journal.notes() == [(1, 10, 5, 200), (2, 20, 6, 201)]
    assert journal.note(3, 30, 7, 202)
    assert not journal.note(4, 40, 8, 203)  # full: refused, nothing overwritten
    assert len(journal) == 3
    journal.clear()
    assert journal.notes() == []
    assert journal.note(5, 50, 9, 204)
    assert journal.notes() == [(5, 50, 9, 204)]


@pytest.mark.parametrize("capacity", [0, 256])
def test_a_journal_holds_what_its_count_s_first_byte_can_say(tmp_path, capacity):
    with pytest.raises(ValueError, match="1 to 255"):
        local_journal.LocalJournal(tmp_path, NOTE, capacity=capacity)


def test_a_living_process_s_notes_are_not_taken(tmp_path):
    journal = local_journal.LocalJournal(tmp_path, NOTE, capacity=4)
    journal.note(1, 10, 5, 200)
    taken = []
    assert (
        local_journal.orphans_take(tmp_path, NOTE, lambda notes: taken.append(notes) or True) == 0
    )
    assert taken == []
    assert journal.notes() == [(1, 10, 5, 200)]
    assert Path(journal.path).exists()


def _writer(directory: Path, notes: int) -> subprocess.Popen:
    """A process that notes `notes` notes, says so, and waits to be killed."""
    code = textwrap.dedent(
        f"""
        import struct, sys, time
        from pathlib import Path
        from steward import local_journal
        journal = local_journal.for_thread(Path({str(directory)!r}), struct.Struct("<qqii"), 8)
        for i in range({notes}):
            journal.note(i + 1, 1000 + i, i, 200)
        print("noted", flush=True)
        time.sleep(60)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "noted"
    return process


def test_what_a_killed_process_noted_is_taken_once(tmp_path):
    writer = _writer(tmp_path, 3)
    try:
        # Alive: its file is locked, not an orphan.
        assert local_journal.orphans_take(tmp_path, NOTE, lambda notes: True) == 0
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    taken = []
    assert local_journal.orphans_take(tmp_path, NOTE, lambda n: taken.append(n) or True) == 3
    assert taken == [[(1, 1000, 0, 200), (2, 1001, 1, 200), (3, 1002, 2, 200)]]
    assert list(tmp_path.glob("*.journal")) == []
    assert local_journal.orphans_take(tmp_path, NOTE, lambda notes: True) == 0


def test_notes_not_kept_elsewhere_are_offered_again(tmp_path):
    writer = _writer(tmp_path, 2)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert local_journal.orphans_take(tmp_path, NOTE, lambda notes: False) == 0
    offered = []
    assert local_journal.orphans_take(tmp_path, NOTE, lambda n: offered.append(n) or True) == 2
    assert len(offered) == 1


def test_an_empty_journal_left_behind_is_removed(tmp_path):
    writer = _writer(tmp_path, 0)
    os.kill(writer.pid, signal.SIGTERM)
    writer.wait()
    called = []
    assert local_journal.orphans_take(tmp_path, NOTE, lambda n: called.append(n) or True) == 0
    assert called == []
    assert list(tmp_path.glob("*.journal")) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_writes_a_journal_of_its_own(tmp_path):
    parent = local_journal.for_thread(tmp_path, NOTE, 4)
    parent.note(1, 1, 1, 1)
    assert local_journal.for_thread(tmp_path, NOTE, 4) is parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own file, the parent's notes untouched
        child = local_journal.for_thread(tmp_path, NOTE, 4)
        child.note(2, 2, 2, 2)
        os.write(write, f"{child.path != parent.path} {child.notes()}".encode())
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1000).decode()
    os.waitpid(pid, 0)
    assert answer == "True [(2, 2, 2, 2)]"
    assert parent.notes() == [(1, 1, 1, 1)]
    # The child has exited: its file (one note) is an orphan; the parent's is not.
    assert local_journal.orphans_take(tmp_path, NOTE, lambda notes: notes == [(2, 2, 2, 2)]) == 1
    assert parent.notes() == [(1, 1, 1, 1)]
