"""sha256 of files: model verification, manifests and cache keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20
_memo: dict[str, str] = {}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file_cached(path: str | Path) -> str:
    """``sha256_file`` memoised per (resolved path, size, mtime) for this process: training hashes
    the same CTs and masks once per run rather than once per use."""
    p = Path(path)
    st = p.stat()
    key = f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    if key not in _memo:
        _memo[key] = sha256_file(p)
    return _memo[key]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
