"""Where a Kubernetes backend connects: an explicit URL, a kubeconfig context, or in-cluster.

A kubeconfig carries certificates inline (``*-data``, base64 PEM) and tokens;
``ssl`` wants files, so inline material is written to a private temporary
directory (0700, files 0600) that ``KubeConnection.close()`` removes. The
result is a ``KubernetesBackend`` copy with ``url``, ``tls`` and ``auth``
filled in and its secret attached, ready for ``common.http.build_client``.
Exec plugins and auth providers (``aws eks get-token``, ``gke-gcloud-auth-plugin``)
are not run; the connection then has no credentials and says so.
"""

from __future__ import annotations

import base64
import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from obsbench_servers.common.backend import TLS, Auth, KubernetesBackend
from obsbench_servers.common.errors import ConfigError

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass
class KubeConnection:
    """A resolved API server connection (close it to remove inline certificate files)."""

    backend: KubernetesBackend
    context: str | None = None
    namespace: str | None = None
    warnings: list[str] = field(default_factory=list)
    _tmp: str | None = None

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> KubeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kubeconfig_paths(backend: KubernetesBackend) -> list[Path]:
    """``kubeconfig`` from the profile, else ``$KUBECONFIG`` (a path list), else ~/.kube/config."""
    if backend.kubeconfig is not None:
        return [backend.kubeconfig]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(
            f"cannot read kubeconfig {path}: {exc.strerror}",
            "set infra.kubeconfig to your kubeconfig, or $KUBECONFIG",
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"kubeconfig {path} is not valid YAML ({exc})", "check it with `kubectl config view`"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"kubeconfig {path} is not a kubeconfig", "check it with `kubectl config view`"
        )
    return data


def _merged(paths: list[Path]) -> tuple[dict[str, Any], dict[str, Path]]:
    """Merge kubeconfig files the way kubectl does: the first definition of a name wins."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    origin: dict[str, Path] = {}
    existing = [p for p in paths if p.is_file()]
    if not existing:
        raise ConfigError(
            f"no kubeconfig at {', '.join(map(str, paths))}",
            "set infra.kubeconfig, $KUBECONFIG, or infra.url for an explicit API server",
        )
    for path in existing:
        data = _load_yaml(path)
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for item in data.get(section) or []:
                name = item.get("name")
                if name and name not in merged[section]:
                    merged[section][name] = item.get(key) or {}
                    origin[f"{section}/{name}"] = path
        if not merged["current-context"] and data.get("current-context"):
            merged["current-context"] = data["current-context"]
    return merged, origin


def _write_private(tmp: str, name: str, b64: str) -> Path:
    path = Path(tmp) / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(b64))
    return path


def _rel(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base.parent / p


def _with(
    backend: KubernetesBackend, url: str, tls: TLS, auth: Auth, secret: SecretStr | None
) -> KubernetesBackend:
    # Built without validation: these come from the kubeconfig, not from a reference.
    copy = backend.model_copy(update={"url": url.rstrip("/"), "tls": tls, "auth": auth})
    return copy.with_secret(secret)


def connect(backend: KubernetesBackend) -> KubeConnection:
    """Resolve the API server, TLS and credentials for a Kubernetes backend."""
    if backend.url:
        return KubeConnection(backend, namespace=backend.namespace)
    if backend.in_cluster:
        host, port = (
            os.environ.get("KUBERNETES_SERVICE_HOST"),
            os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
        )
        token_file = SA_DIR / "token"
        if not host or not token_file.is_file():
            raise ConfigError(
                "in_cluster is set but this process is not running in a pod",
                "unset infra.in_cluster and use a kubeconfig context or infra.url",
            )
        ns_file = SA_DIR / "namespace"
        ns = backend.namespace or (ns_file.read_text().strip() if ns_file.is_file() else None)
        conn = _with(
            backend,
            f"https://{host}:{port}",
            TLS(ca_file=SA_DIR / "ca.crt"),
            Auth.model_construct(kind="bearer", username=None, secret=None, header=None),
            SecretStr(token_file.read_text().strip()),
        )
        return KubeConnection(conn, "in-cluster", ns)

    merged, origin = _merged(kubeconfig_paths(backend))
    name = backend.context or merged["current-context"]
    contexts = merged["contexts"]
    if not name:
        raise ConfigError(
            "the kubeconfig has no current-context and infra.context is not set",
            f"set infra.context to one of: {', '.join(contexts) or '(none)'}",
        )
    if name not in contexts:
        close = difflib.get_close_matches(name, list(contexts), n=1)
        raise ConfigError(
            f"no context {name!r} in the kubeconfig",
            (f"did you mean {close[0]!r}? " if close else "")
            + f"contexts: {', '.join(contexts) or '(none)'}",
        )
    ctx = contexts[name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    cluster = merged["clusters"].get(cluster_name)
    if cluster is None or not cluster.get("server"):
        raise ConfigError(
            f"context {name!r} names cluster {cluster_name!r}, which has no server",
            "fix the kubeconfig (`kubectl config view`)",
        )
    user = merged["users"].get(user_name) or {}
    warnings: list[str] = []
    tmp = tempfile.mkdtemp(prefix="obsbench-kube-")
    try:
        cbase = origin.get(f"clusters/{cluster_name}", Path("."))
        ubase = origin.get(f"users/{user_name}", Path("."))
        ca = (
            _write_private(tmp, "ca.pem", cluster["certificate-authority-data"])
            if cluster.get("certificate-authority-data")
            else _rel(cbase, cluster["certificate-authority"])
            if cluster.get("certificate-authority")
            else None
        )
        cert = (
            _write_private(tmp, "client.pem", user["client-certificate-data"])
            if user.get("client-certificate-data")
            else _rel(ubase, user["client-certificate"])
            if user.get("client-certificate")
            else None
        )
        key = (
            _write_private(tmp, "client-key.pem", user["client-key-data"])
            if user.get("client-key-data")
            else _rel(ubase, user["client-key"])
            if user.get("client-key")
            else None
        )
        tls = TLS.model_construct(
            ca_file=ca,
            cert_file=cert,
            key_file=key,
            insecure_skip_verify=bool(cluster.get("insecure-skip-tls-verify")),
        )
        secret: SecretStr | None = None
        auth = Auth.model_construct(kind="none", username=None, secret=None, header=None)
        if user.get("token"):
            secret = SecretStr(str(user["token"]))
            auth = Auth.model_construct(kind="bearer", username=None, secret=None, header=None)
        elif user.get("tokenFile"):
            secret = SecretStr(_rel(ubase, user["tokenFile"]).read_text().strip())
            auth = Auth.model_construct(kind="bearer", username=None, secret=None, header=None)
        elif user.get("username") and user.get("password"):
            secret = SecretStr(str(user["password"]))
            auth = Auth.model_construct(
                kind="basic", username=str(user["username"]), secret=None, header=None
            )
        elif user.get("exec") or user.get("auth-provider"):
            plugin = (user.get("exec") or {}).get("command") or (
                user.get("auth-provider") or {}
            ).get("name")
            warnings.append(
                f"the kubeconfig user {user_name!r} gets credentials from a plugin "
                f"({plugin}), which obsbench does not run; connected without credentials"
            )
        conn = _with(backend, str(cluster["server"]), tls, auth, secret)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return KubeConnection(conn, name, backend.namespace or ctx.get("namespace"), warnings, tmp)
