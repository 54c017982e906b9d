"""The audit trail: an append-only JSONL file, each record hash-chained to the one before.

Every write a tool performs, and every write it refuses, is recorded here with who
confirmed it; issue 9 extends the same trail to every tool call. A record is one
JSON object per line with ``seq`` (1, 2, ...), ``ts``, ``event`` and the caller's
fields, plus ``prev_hash`` (the previous record's ``hash``; 64 zeros for the
first) and ``hash`` (SHA-256 over the record's canonical JSON without ``hash``).
Editing, inserting or deleting a record breaks the chain, and ``verify()`` names
the first line where it breaks.

Several processes (the CLI, ``obsbench serve``, the TUI) may append at once: each
append takes an exclusive ``flock`` on the file, reads the last record's hash and
writes the new line with one ``write`` on an ``O_APPEND`` descriptor. The file
and its directory are private to the user (0600 / 0700).

Rotation by size: when the file reaches ``max_bytes`` (``$OBSBENCH_AUDIT_MAX_BYTES``,
default 10 MiB) it is renamed ``audit.jsonl.1`` (then ``.2``, ...: higher is newer)
and a new file starts; the chain and ``seq`` run on across files, so ``verify()``
walks every segment in order and a deleted or altered segment breaks the chain.

Location: ``$OBSBENCH_STATE_DIR/audit/audit.jsonl``, else
``platformdirs.user_state_dir("obsbench")/audit/audit.jsonl``. The servers never
import the workbench, so the directory is worked out here, the same way
``obsbench.paths`` does.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from obsbench_servers.common.oauth import current_caller

try:  # POSIX; on other systems appends are serialised per process only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

GENESIS_HASH = "0" * 64
AUDIT_FILE = "audit.jsonl"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_TAIL_CHUNK = 64 * 1024
_thread_lock = threading.Lock()


def state_dir() -> Path:
    """``$OBSBENCH_STATE_DIR``, else the platform's per-user state directory."""
    env = os.environ.get("OBSBENCH_STATE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs  # noqa: PLC0415 - only needed without the variable

    return Path(platformdirs.user_state_dir("obsbench"))


def default_audit_path() -> Path:
    return state_dir() / "audit" / AUDIT_FILE


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: sorted keys, no ``hash`` field, UTC times as text."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def actor() -> dict[str, Any]:
    """Who runs this process (OS account, host, pid) and, over OAuth, who called (``oauth``)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    out: dict[str, Any] = {"os_user": user, "host": socket.gethostname(), "pid": os.getpid()}
    # Served over HTTP with OAuth: who called is the token's subject and client, not the OS user.
    caller = current_caller()
    if caller is not None:
        out["oauth"] = caller
    return out


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found: ``ok``, how many records, and the first problem with its line."""

    ok: bool
    records: int
    problem: str | None = None
    line: int | None = None
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "records": self.records,
                               "problem": self.problem, "line": self.line}
        if self.file is not None:  # only when a problem names the file
            out["file"] = self.file
        return out


class AuditTrail:
    """One audit file. ``append`` is safe across threads and processes."""

    def __init__(self, path: Path | None = None, *, max_bytes: int | None = None) -> None:
        self.path = path or default_audit_path()
        env = os.environ.get("OBSBENCH_AUDIT_MAX_BYTES")
        self.max_bytes = max_bytes or (int(env) if env and env.isdigit() else DEFAULT_MAX_BYTES)

    def segments(self) -> list[Path]:
        """Rotated files oldest first (``audit.jsonl.1``, ``.2``, ...), then the live file."""
        rotated = []
        for p in self.path.parent.glob(self.path.name + ".*"):
            suffix = p.name[len(self.path.name) + 1:]
            if suffix.isdigit():
                rotated.append((int(suffix), p))
        return [p for _, p in sorted(rotated)] + ([self.path] if self.path.exists() else [])

    def _open_current(self) -> int:
        """The live file's descriptor, locked; reopened if another process rotated it meanwhile."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)  # rotated between open and lock: the path is a new file now

    def _rotate(self, fd: int) -> tuple[int, dict[str, Any] | None]:
        """Rename the full live file to the next ``.N``; the new file chains on from it."""
        last = _last_record(fd)
        rotated = self.segments()[:-1]
        nums = [int(p.name.rsplit(".", 1)[1]) for p in rotated]
        self.path.rename(self.path.with_name(f"{self.path.name}.{max(nums, default=0) + 1}"))
        os.close(fd)  # closing releases the lock on the renamed file
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, last

    # ------------------------------------------------------------------ writing

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record (``event`` plus ``fields``) and return it with its hash."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _thread_lock:
            fd = self._open_current()
            try:
                if os.fstat(fd).st_size >= self.max_bytes:
                    fd, last = self._rotate(fd)
                else:
                    last = _last_record(fd)
                record: dict[str, Any] = {
                    "seq": int(last.get("seq", 0)) + 1 if last else 1,
                    "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace(
                        "+00:00", "Z"),
                    "event": event,
                    **fields,
                    "prev_hash": last.get("hash", GENESIS_HASH) if last else GENESIS_HASH,
                }
                record["hash"] = record_hash(record)
                line = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"
                os.write(fd, line)
                os.fsync(fd)
            finally:
                if fcntl is not None:
                    with contextlib.suppress(OSError):
                        fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        return record

    # ------------------------------------------------------------------ reading

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in order, across rotated files (a non-JSON line raises ``ValueError``)."""
        for path in self.segments():
            with path.open("rb") as f:
                for n, raw in enumerate(f, 1):
                    if not raw.strip():
                        continue
                    try:
                        yield orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{n}: not a JSON record ({exc})") from exc

    def verify(self) -> VerifyResult:
        """Walk the chain over every file: hashes recompute, link up, ``seq`` counts up.

        ``line`` is the line number within ``file`` (the segment where the chain breaks).
        """
        prev = GENESIS_HASH
        expected_seq = 1
        count = 0
        for path in self.segments():
            with path.open("rb") as f:
                for n, raw in enumerate(f, 1):
                    problem = None
                    rec: Any = None
                    if not raw.strip():
                        problem = "empty line inside the trail"
                    else:
                        try:
                            rec = orjson.loads(raw)
                        except orjson.JSONDecodeError:
                            problem = "not a JSON record (torn or edited)"
                    if problem is None and not isinstance(rec, dict):
                        problem = "not a JSON object"
                    elif problem is None and rec.get("hash") != record_hash(rec):
                        problem = "the record was changed (hash mismatch)"
                    elif problem is None and rec.get("prev_hash") != prev:
                        problem = ("the chain is broken (prev_hash does not match the record "
                                   "before: a record or file was deleted, inserted or reordered)")
                    elif problem is None and rec.get("seq") != expected_seq:
                        problem = f"sequence jumps to {rec.get('seq')} (expected {expected_seq})"
                    if problem is not None:
                        return VerifyResult(False, count, problem, n, str(path))
                    prev = rec["hash"]
                    expected_seq += 1
                    count += 1
        return VerifyResult(True, count)


def _last_record(fd: int) -> dict[str, Any] | None:
    """The last complete record of the file open on ``fd`` (read backwards from the end)."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return None
    buf = b""
    pos = size
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        stripped = buf.rstrip(b"\n")
        cut = stripped.rfind(b"\n")
        if cut >= 0 or pos == 0:
            line = stripped[cut + 1:] if cut >= 0 else stripped
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                # A torn last line (a crash mid-write): chain on from it anyway so that
                # ``verify`` reports the tear where it happened instead of hiding it.
                return {"hash": hashlib.sha256(line).hexdigest(), "seq": -1}
            return rec if isinstance(rec, dict) else None
    return None
