"""Change detection for the files the webhook re-reads (policy, certificate, registry logins).

Kubernetes updates ConfigMap and Secret volumes by swapping a `..data` symlink; stat() follows it,
so inode, mtime and size of the target identify the version. A stat costs microseconds, cheap
enough to do per request instead of running watcher threads.
"""

from __future__ import annotations

import os

Stamp = tuple[tuple[int, int, int], ...]


def file_stamp(*paths: str | os.PathLike[str]) -> Stamp | None:
    """Identity of the files' current versions, or None while any of them is missing."""
    try:
        return tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in map(os.stat, paths))
    except OSError:
        return None
