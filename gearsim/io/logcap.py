"""Keeping a started server's output log to a bounded size while it runs (I/O, one thread per server).

A server gearsim starts writes its standard output and standard error to
``<name>.log`` in its run directory (gearsim.io.launch). A server that floods
them would fill the disk: a toy that printed in a loop wrote 2.3 GB in 11 s.
``watch_log`` looks at the file from a daemon thread while the process runs;
whenever it has passed ``LOG_CAP`` bytes it is cut (``cut_log``) to a line
saying so and its last ``KEEP`` bytes, which hold far more than a report
quotes of it (its last lines). The server's descriptor was opened for
appending, so its next writes land after what was kept, wherever its old
offset was. The description's own log files are the server's business and
are not touched.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = ["CHECK_EVERY", "KEEP", "LOG_CAP", "cut_log", "watch_log"]

#: bytes a server's output log may reach before it is cut
LOG_CAP: Final[int] = 32 * 1024 * 1024
#: bytes of its end a cut log keeps
KEEP: Final[int] = 64 * 1024
#: seconds between two looks at the log's size
CHECK_EVERY: Final[float] = 0.2


def cut_log(path: Path, keep: int = KEEP) -> bool:
    """Cut ``path`` to a line saying so and its last ``keep`` bytes (from a line start); whether it was cut.

    Never raises: a log that cannot be read or written is left as it is.
    """
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - keep))
            tail = fh.read()
        start = tail.find(b"\n") + 1 if size > keep else 0
        kept = tail[start:]
        note = f"=== gearsim: this log passed {size} bytes; all but its last {len(kept)} were dropped ===\n"
        os.truncate(path, 0)
        # appending, as the server does: whichever of the two writes first, neither overwrites the other
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, note.encode() + kept)
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def watch_log(
    process: subprocess.Popen[bytes],
    path: Path,
    on_cut: Callable[[], None],
    *,
    cap: int | None = None,
    keep: int = KEEP,
    every: float = CHECK_EVERY,
) -> threading.Thread:
    """Start a daemon thread that cuts ``path`` whenever it passes ``cap`` bytes, until ``process`` ends.

    ``cap`` defaults to ``LOG_CAP`` as it is when called. ``on_cut`` runs
    after each cut (the log's earlier offsets no longer exist). The log may
    pass the cap by what the server writes between two looks. The thread
    looks once more after the process ended, then stops.
    """
    limit = LOG_CAP if cap is None else cap

    def run() -> None:
        while True:
            ended = process.poll() is not None
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            if size > limit and cut_log(path, keep):
                on_cut()
            if ended:
                return
            time.sleep(every)

    thread = threading.Thread(target=run, name=f"gearsim log cap: {path}", daemon=True)
    thread.start()
    return thread
