"""One writer per output file: an advisory lock file `OUT.lock` holding the writer's pid.

The lock is a kernel `flock`, so a run that dies (even by kill -9) releases it: a lock file whose
pid is gone is stale and the next run simply takes it over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


class OutputLocked(RuntimeError):
    """Another live process is writing the same output."""


def _holder(path: Path) -> str:
    try:
        return f"pid {int(path.read_text().strip())}"
    except (OSError, ValueError):
        return "another process"


@contextlib.contextmanager
def output_lock(output: Path, tool: str) -> Iterator[Path]:
    """Hold `OUTPUT.lock` for the duration; raise `OutputLocked` naming the holder's pid if it is taken."""
    path = output.with_name(output.name + ".lock")
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLocked(
                f"{output} is being written by another {tool} run ({_holder(path)}); wait for it to finish "
                f"or stop it (its lock is {path})."
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed the file between our open and our lock: take the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
