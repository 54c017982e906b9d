"""Kubernetes objects from a telemetry bundle (``k8s/*.json`` Lists in the embedded store).

The objects are a snapshot taken at the bundle's end (``snapshot_ns``); events carry
their own times. Secrets are returned as metadata only, as the live backend returns
them, so no code path ever holds a secret value.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson

from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.infra.backend import RESOURCES
from obsbench_servers.infra.k8s import KubeEvent, labels_of, selector_matches


class LocalInfra:
    type = "local"

    def __init__(self, ctx: ServerContext, backend: LocalBackend) -> None:
        self.ctx = ctx
        self.backend = backend
        self.label = backend.name or f"bundle {backend.bundle.name}"
        self._cache: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _store(self) -> Any:
        return self.ctx.store(self.backend)

    def _all(self, resource: str) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._cache.get(resource)
        if cached is not None:
            return cached
        res = RESOURCES[resource]
        rows = self._store().query("SELECT raw_json FROM k8s_objects WHERE kind = ?", [res.kind])
        objs = []
        for (raw,) in rows:
            obj = orjson.loads(raw)
            if resource == "secrets":
                obj = {"kind": "Secret", "apiVersion": "v1", "metadata": obj.get("metadata", {}),
                       "type": obj.get("type"),
                       "keys": sorted({*(obj.get("data") or {}), *(obj.get("stringData") or {})})}
            objs.append(obj)
        with self._lock:
            self._cache[resource] = objs
        return objs

    def list_objects(self, resource: str, namespace: str | None = None, *,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        out = []
        for obj in self._all(resource):
            meta = obj.get("metadata") or {}
            if namespace and meta.get("namespace") != namespace:
                continue
            if label_selector and not selector_matches(label_selector, labels_of(obj)):
                continue
            out.append(obj)
        return out

    def events(self, namespace: str | None, start_ns: int, end_ns: int) -> list[KubeEvent]:
        sql = ("SELECT namespace, name, type, reason, message, object_kind, object_name, "
               "first_ns, last_ns, count, source_component FROM k8s_events "
               "WHERE coalesce(last_ns, first_ns) >= ? AND coalesce(first_ns, last_ns) < ?")
        params: list[Any] = [start_ns, end_ns]
        if namespace:
            sql += " AND namespace = ?"
            params.append(namespace)
        return [KubeEvent(ns or "", name or "", typ or "Normal", reason or "", msg or "",
                          okind or "", oname or "", first, last, int(count or 1), src or "")
                for ns, name, typ, reason, msg, okind, oname, first, last, count, src
                in self._store().query(sql, params)]

    def default_namespace(self) -> str | None:
        return None

    def snapshot_ns(self) -> int | None:
        window = self._store().manifest.window
        return window.end_ns if window is not None else None

    def describe(self) -> dict[str, Any]:
        return {"type": "local", "name": self.label, "bundle": str(self.backend.bundle)}

    def close(self) -> None:
        return None
