"""The Kubernetes API over httpx, from a kubeconfig context, in-cluster, or an explicit URL.

Why httpx and not the official ``kubernetes`` client: obsbench only *reads* a dozen
list endpoints, and through ``common.http`` it gets, for free, what every other
backend already has — timeouts on connect/read/total, a response size cap, the
same error categories and hints (DNS, TLS, 401, 403, 429...), secrets that never
reach a repr or a log line, and mock transports in tests. The official client would
add ~30 MB of generated models and its own configuration and retry machinery, which
would bypass those limits. Credentials come from ``common.kubeconfig`` (contexts,
inline certificates, tokens, in-cluster service account).

Reads are paginated (``limit``/``continue``) up to ``MAX_ITEMS`` per call; a list cut
there is reported (``take_notes``, surfaced by ``Fetch`` as a warning), never silent. Secrets are
listed as ``PartialObjectMetadataList`` (metadata only), so secret values are never
transferred, let alone shown. A 403 raises ``PermissionDeniedError`` naming the verb,
resource and namespace.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from obsbench_servers.common.backend import KubernetesBackend
from obsbench_servers.common.errors import BackendError
from obsbench_servers.common.http import RequestFailedError, build_client
from obsbench_servers.common.jsonapi import call_json
from obsbench_servers.common.kubeconfig import KubeConnection, connect
from obsbench_servers.infra.backend import API_PLURAL, RESOURCES, PermissionDeniedError
from obsbench_servers.infra.k8s import KubeEvent, event_from_object, event_in_window

PAGE = 500
MAX_ITEMS = 5_000
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


class KubernetesInfra:
    type = "kubernetes"

    def __init__(self, config: KubernetesBackend,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.label = config.name or "kubernetes"
        self._transport = transport
        self._namespace: str | None = None
        self._resolved = False
        self._lock = threading.Lock()
        self._notes = threading.local()  # per tool call: each runs in its own worker thread

    @contextmanager
    def _session(self) -> Iterator[tuple[KubeConnection, httpx.Client]]:
        """Connection and client for one list (its pages); certificates removed after it."""
        with connect(self.config) as conn, build_client(conn.backend,
                                                        transport=self._transport) as client:
            with self._lock:
                self._namespace, self._resolved = conn.namespace, True
            yield conn, client

    def default_namespace(self) -> str | None:
        with self._lock:
            if self._resolved:
                return self._namespace
        with connect(self.config) as conn:
            with self._lock:
                self._namespace, self._resolved = conn.namespace, True
            return conn.namespace

    def snapshot_ns(self) -> int | None:
        return None

    def _path(self, resource: str, namespace: str | None) -> str:
        res = RESOURCES[resource]
        path = res.path(namespace)
        if resource in API_PLURAL:
            path = path.removesuffix(res.plural) + API_PLURAL[resource]
        return path

    def list_objects(self, resource: str, namespace: str | None = None, *,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        with self._session() as (conn, client):
            return self._list(conn, client, resource, namespace, label_selector)

    def _list(self, conn: KubeConnection, client: httpx.Client, resource: str,
              namespace: str | None, label_selector: str | None) -> list[dict[str, Any]]:
        res = RESOURCES[resource]
        path = self._path(resource, namespace)
        headers = {"Accept": METADATA_ONLY} if resource == "secrets" else None
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"limit": str(PAGE)}
            if label_selector:
                params["labelSelector"] = label_selector
            if token:
                params["continue"] = token
            try:
                r = call_json(client, conn.backend, "GET", path, params=params, headers=headers,
                              what=f"Kubernetes API ({self.label})")
            except RequestFailedError as exc:
                if exc.status == 403:
                    raise PermissionDeniedError("list", res, namespace, exc.message) from exc
                if exc.status == 401:
                    raise RequestFailedError(
                        "unauthorized", exc.message,
                        "the API server refused the credentials: the token or client "
                        "certificate in the kubeconfig has probably expired — refresh it "
                        "(log in again, or re-run the exec plugin with kubectl) and retry",
                        status=401) from exc
                if exc.status == 404 and resource == "podmetrics":
                    raise BackendError("the cluster does not serve metrics.k8s.io "
                                       "(metrics-server is not installed)",
                                       "install metrics-server, or give the profile a metrics "
                                       "backend with cAdvisor metrics") from exc
                raise
            body = r.data if isinstance(r.data, dict) else {}
            page = body.get("items")
            if not isinstance(page, list):
                raise BackendError(f"Kubernetes API ({self.label}): {path} answered no items list",
                                   "is url the API server (not a dashboard or proxy page)?")
            for obj in page:
                if isinstance(obj, dict):
                    obj.setdefault("kind", res.kind)
                    obj.setdefault("apiVersion", res.api_version)
                    if resource == "secrets":  # belt and braces: drop values if sent anyway
                        obj.pop("data", None)
                        obj.pop("stringData", None)
                    items.append(obj)
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items
            if len(items) >= MAX_ITEMS:
                where = f"namespace {namespace!r}" if namespace else "all namespaces"
                self._note(f"{resource} in {where}: stopped after {len(items):,} objects "
                           f"(limit {MAX_ITEMS:,}); the rest were not read — narrow the "
                           "namespace or service")
                return items

    def _note(self, note: str) -> None:
        notes: list[str] = getattr(self._notes, "items", None) or []
        if note not in notes:
            notes.append(note)
        self._notes.items = notes

    def take_notes(self) -> list[str]:
        """What this thread's reads left out (e.g. a list cut at MAX_ITEMS), once."""
        notes: list[str] = getattr(self._notes, "items", None) or []
        self._notes.items = []
        return notes

    def events(self, namespace: str | None, start_ns: int, end_ns: int) -> list[KubeEvent]:
        return [e for e in (event_from_object(o) for o in self.list_objects("events", namespace))
                if event_in_window(e, start_ns, end_ns)]

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.label, "target": self.config.target()}

    def close(self) -> None:
        return None
