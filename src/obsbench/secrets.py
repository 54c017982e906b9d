"""Secret references and where secrets are kept.

The config file names a secret, never holds it: ``keyring:obsbench/NAME`` (the
system keyring, service ``obsbench``), ``env:VARIABLE`` or ``file:/path``.
Headless machines (CI, jump hosts, containers) have no keyring backend, so a
keyring reference falls back to a file store: ``secrets.cfg`` in the state dir
(``$OBSBENCH_STATE_DIR`` or the platform's user state dir), created 0600, via
keyrings.alt's plaintext file backend. Every answer says which store was used.
``OBSBENCH_SECRETS_STORE=keyring|file|auto`` forces the store for writes.

Values travel as ``pydantic.SecretStr`` and are shown only as a fixed mask.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from obsbench.paths import state_dir
from obsbench_servers.common.backend import DEFAULT_KEYRING_SERVICE, parse_secret_ref
from obsbench_servers.common.errors import ConfigError

MASK = "********"
FILE_STORE_NAME = "secrets.cfg"
STORE_ENV = "OBSBENCH_SECRETS_STORE"


@dataclass(frozen=True)
class SecretStatus:
    """Whether a reference resolves on this machine, from which store, and what to do if not."""

    ref: str
    resolves: bool
    store: str
    detail: str = ""
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ref": self.ref,
            "resolves": self.resolves,
            "store": self.store,
            "value": MASK if self.resolves else None,
        }
        if self.detail:
            data["detail"] = self.detail
        if self.hint:
            data["hint"] = self.hint
        return data


# --------------------------------------------------------------------------- stores


def file_store_path() -> Path:
    return state_dir() / FILE_STORE_NAME


def _file_store() -> Any:
    """keyrings.alt's plaintext backend, kept in the state dir with mode 0600."""
    # keyring loads on the first secret looked up, not with the config (the TUI's first paint).
    from keyrings.alt.file import PlaintextKeyring  # noqa: PLC0415

    store = PlaintextKeyring()
    store.file_path = str(file_store_path())
    return store


def system_keyring() -> Any | None:
    """The OS keyring, or None when this machine has none usable (headless)."""
    import keyring  # noqa: PLC0415 - on first use (see _file_store)
    from keyring.backends import fail, null  # noqa: PLC0415

    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring config must not break obsbench
        return None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    chained = getattr(backend, "backends", None)
    if chained is not None and not chained:
        return None
    return backend


def _keyring_label(backend: Any) -> str:
    return f"system keyring ({type(backend).__module__.split('.')[-1]}.{type(backend).__name__})"


def file_store_label() -> str:
    return f"file store {file_store_path()} (0600)"


def _lookups() -> list[tuple[str, Any]]:
    stores: list[tuple[str, Any]] = []
    system = system_keyring()
    if system is not None:
        stores.append((_keyring_label(system), system))
    stores.append((file_store_label(), _file_store()))
    return stores


def write_store() -> tuple[str, Any]:
    """Where ``set-secret`` writes: the system keyring when usable, else the file store."""
    choice = os.environ.get(STORE_ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "keyring", "file"):
        raise ConfigError(
            f"{STORE_ENV}={choice!r} is not a store", f"set {STORE_ENV} to auto, keyring or file"
        )
    system = system_keyring()
    if choice == "keyring":
        if system is None:
            raise ConfigError(
                "no system keyring is available on this machine",
                f"unset {STORE_ENV} (the 0600 file store is used), or reference the secret "
                "with env:VARIABLE or file:/path",
            )
        return _keyring_label(system), system
    if choice == "auto" and system is not None:
        return _keyring_label(system), system
    return file_store_label(), _file_store()


def _secure_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)


def store_secret(name: str, value: str, *, service: str = DEFAULT_KEYRING_SERVICE) -> str:
    """Store a secret under ``service/name``; returns a description of the store used."""
    if not name or any(c in name for c in "/\\:[]=\n\r") or name.strip() != name:
        raise ConfigError(
            f"{name!r} is not a usable secret name",
            "use letters, digits, '.', '_' and '-', e.g. prod-prometheus",
        )
    if not value:
        raise ConfigError(
            "the secret is empty; nothing was stored",
            "pipe or type the secret's value (trailing newline is removed)",
        )
    label, store = write_store()
    try:
        if label.startswith("file store"):
            _secure_file(file_store_path())
        store.set_password(service, name, value)
        if label.startswith("file store"):
            os.chmod(file_store_path(), 0o600)
    except ConfigError:
        raise
    except Exception as exc:
        # Never include the value; the backend's message may be long or odd, keep its type.
        raise ConfigError(
            f"could not store the secret in the {label}: {type(exc).__name__}",
            f"set {STORE_ENV}=file to use the file store, or reference the secret "
            "with env:VARIABLE",
        ) from None
    return label


# --------------------------------------------------------------------------- resolution


def _mode_warning(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError:
        return ""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is readable by group or others (mode {stat.S_IMODE(mode):o}); chmod 600 it"
    return ""


def _lookup(ref: str) -> tuple[str | None, SecretStatus]:
    scheme, service, target = parse_secret_ref(ref)
    if scheme == "env":
        value = os.environ.get(target)
        if value:
            return value, SecretStatus(ref, True, "env", f"environment variable {target}")
        return None, SecretStatus(
            ref,
            False,
            "env",
            f"environment variable {target} is not set" + (" (it is empty)" if value == "" else ""),
            f"export {target}=… in the environment obsbench runs in",
        )
    if scheme == "file":
        path = Path(target).expanduser()
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            return None, SecretStatus(
                ref, False, "file", f"{path} does not exist", "create it (mode 600) or fix the path"
            )
        except (OSError, UnicodeDecodeError) as exc:
            return None, SecretStatus(
                ref,
                False,
                "file",
                f"cannot read {path}: {type(exc).__name__}",
                "check the file's permissions and that it is UTF-8 text",
            )
        if not value:
            return None, SecretStatus(
                ref, False, "file", f"{path} is empty", "write the secret into it"
            )
        return value, SecretStatus(ref, True, "file", _mode_warning(path) or str(path))
    tried = []
    for label, store in _lookups():
        tried.append(label)
        try:
            value = store.get_password(service, target)
        except Exception as exc:
            tried[-1] += f" (unavailable: {type(exc).__name__})"
            continue
        if value:
            return value, SecretStatus(ref, True, label)
    return None, SecretStatus(
        ref,
        False,
        "keyring",
        f"no secret {service}/{target} in: {'; '.join(tried)}",
        f"store it with `obsbench config set-secret {target}`"
        + ("" if service == DEFAULT_KEYRING_SERVICE else f" (service {service!r} must match)"),
    )


def check_ref(ref: str) -> SecretStatus:
    """Whether a reference resolves, without ever returning its value."""
    try:
        return _lookup(ref)[1]
    except ValueError:
        return SecretStatus(
            ref,
            False,
            "invalid",
            "not a secret reference",
            "use keyring:obsbench/NAME, env:VARIABLE or file:/path",
        )


def resolve_ref(ref: str) -> SecretStr:
    """The secret a reference names; ``ConfigError`` says why it does not resolve."""
    try:
        value, status = _lookup(ref)
    except ValueError:
        raise ConfigError(
            f"{ref!r} is not a secret reference",
            "use keyring:obsbench/NAME, env:VARIABLE or file:/path",
        ) from None
    if value is None:
        raise ConfigError(f"secret {ref} does not resolve: {status.detail}", status.hint)
    return SecretStr(value)
