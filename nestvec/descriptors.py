"""The process's file-descriptor budget: each collection holds a few (its SQLite file, -wal and
-shm) and each worker thread a few more, so a server of many collections runs into the limit."""

from __future__ import annotations

import errno
import os
import resource

# The soft limits asked for where the hard one is unlimited: Linux caps it at fs.nr_open (2**20),
# macOS at kern.maxfilesperproc (10,240 and up).
WANTED = (1 << 20, 10_240)
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})


def limit() -> int:
    """The soft limit on open file descriptors."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_limit() -> tuple[int, int]:
    """Lift the soft limit to the hard one, as Ray and Elasticsearch do (a usual soft 1,024
    held about 200 collections); returns (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    targets = WANTED if hard == resource.RLIM_INFINITY else (hard,)
    for target in targets:
        if soft == resource.RLIM_INFINITY or soft >= target:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # above the system's cap: try the next, else keep ours
            continue
        return soft, target
    return soft, soft


def exhausted(margin: int = 32) -> bool:
    """Whether this process is (nearly) out of file descriptors. SQLite reports it only as
    "unable to open database file", which read as a damaged store or a refusing disk; and by
    then the failed open has let its other descriptors go, so a probe alone finds some free."""
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError as exc:  # not Linux, or none left for the listing itself
        if exc.errno in EXHAUSTED:
            return True
        try:
            os.close(os.open(os.devnull, os.O_RDONLY))
        except OSError as probe:
            return probe.errno in EXHAUSTED
        return False
    return limit() - used < margin
