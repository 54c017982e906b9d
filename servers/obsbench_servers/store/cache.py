"""Content fingerprints of bundles, so reopening an unchanged bundle skips the import.

The cache key is a hash of every file's content plus the schema version, so
an edited file (or a new obsbench) always re-imports. Hashing a large bundle
takes a second; a memo keyed by (path, size, mtime, inode) makes the second
open instant.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson
import platformdirs

from obsbench_servers.store.schema import SCHEMA_VERSION

_MEMO_NAME = "filehash-memo.json"
_MEMO_MAX = 20_000


def cache_dir() -> Path:
    """Where imported stores live: ``$OBSBENCH_CACHE_DIR`` or the platform cache dir."""
    env = os.environ.get("OBSBENCH_CACHE_DIR")
    path = Path(env) if env else Path(platformdirs.user_cache_dir("obsbench")) / "stores"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class HashMemo:
    """Remembers content hashes by file identity; invalidated by any stat change."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / _MEMO_NAME
        try:
            self.data: dict[str, list[object]] = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            self.data = {}
        self.dirty = False

    def hash(self, path: Path) -> str:
        st = path.stat()
        ident = [st.st_size, st.st_mtime_ns, st.st_ino]
        key = str(path.resolve())
        hit = self.data.get(key)
        if hit and hit[:3] == ident:
            return str(hit[3])
        digest = _file_hash(path)
        self.data[key] = [*ident, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if not self.dirty:
            return
        if len(self.data) > _MEMO_MAX:
            self.data = dict(list(self.data.items())[-_MEMO_MAX // 2:])
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(self.data))
        tmp.replace(self.path)
        self.dirty = False


def bundle_key(bundle_dir: Path, files: list[Path], memo: HashMemo) -> str:
    """Hash of the schema version and every (relative path, content hash)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"schema={SCHEMA_VERSION}\n".encode())
    for path in sorted(files):
        rel = path.relative_to(bundle_dir).as_posix()
        h.update(f"{rel}\0{memo.hash(path)}\n".encode())
    return h.hexdigest()
