"""Kubernetes object dumps (``k8s/*.json``) into ``k8s_objects`` and ``k8s_events``.

Accepted: a ``List`` or typed ``XxxList`` (``kubectl get -o json``, or the API
server's list response whose items omit ``kind``/``apiVersion``, which are
then taken from the list), a single object, or a top-level array of objects.
Items are streamed one at a time. Every object is kept whole in
``raw_json``; Events, core/v1 and events.k8s.io/v1, are also flattened into
``k8s_events`` with the time fields each version uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obsbench_servers.common.timeutil import TimeParseError
from obsbench_servers.store.context import ImportContext
from obsbench_servers.store.importers._common import (
    dumps,
    dumps_or_none,
    first_json_byte,
    load_small_json,
    stream_json,
    time_ns,
)


def _time(value: Any) -> int | None:
    try:
        return time_ns(value)
    except (TimeParseError, ValueError, OverflowError):
        return None


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class _KubernetesFile:
    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self.objects = ctx.writer("k8s_objects")
        self.events = ctx.writer("k8s_events")
        self.index = 0

    def obj(self, o: Any, list_kind: str | None = None, list_api: str | None = None) -> None:
        self.index += 1
        if not isinstance(o, dict):
            self.ctx.skip(0, f"not a Kubernetes object: item #{self.index} is a "
                          f"{type(o).__name__}")
            return
        meta = o.get("metadata") or {}
        kind = o.get("kind") or list_kind
        if not kind or not isinstance(meta, dict) or not meta.get("name"):
            self.ctx.skip(0, f"not a Kubernetes object: item #{self.index} has no kind or "
                          "metadata.name")
            return
        owners = [r for r in meta.get("ownerReferences") or () if isinstance(r, dict)]
        owner = next((r for r in owners if r.get("controller")), owners[0] if owners else {})
        namespace = meta.get("namespace")
        self.objects.append(
            kind,
            o.get("apiVersion") or list_api,
            namespace,
            meta["name"],
            meta.get("uid"),
            _time(meta.get("creationTimestamp")),
            dumps_or_none(meta.get("labels")),
            dumps_or_none(meta.get("annotations")),
            owner.get("kind"),
            owner.get("name"),
            dumps(o if o.get("kind") else {"kind": kind, "apiVersion": list_api, **o}),
        )
        self.ctx.count("k8s_objects")
        if kind == "Event":
            self.event(o, meta, namespace)

    def event(self, e: dict[str, Any], meta: dict[str, Any], namespace: str | None) -> None:
        created = _time(meta.get("creationTimestamp"))
        series: dict[str, Any] = e["series"] if isinstance(e.get("series"), dict) else {}
        if "regarding" in e or "note" in e or "deprecatedCount" in e:  # events.k8s.io/v1
            about = e.get("regarding") or {}
            message = e.get("note")
            first = (_time(e.get("eventTime")) or _time(e.get("deprecatedFirstTimestamp"))
                     or created)
            last = (_time(series.get("lastObservedTime"))
                    or _time(e.get("deprecatedLastTimestamp")) or first)
            count = _count(series.get("count")) or _count(e.get("deprecatedCount")) or 1
            component = e.get("reportingController") or (
                e.get("deprecatedSource") or {}).get("component")
        else:  # core/v1
            about = e.get("involvedObject") or {}
            message = e.get("message")
            first = _time(e.get("firstTimestamp")) or _time(e.get("eventTime")) or created
            last = (_time(e.get("lastTimestamp")) or _time(series.get("lastObservedTime"))
                    or first)
            count = _count(e.get("count")) or _count(series.get("count")) or 1
            component = (e.get("source") or {}).get("component") or e.get("reportingComponent")
        self.events.append(
            namespace or about.get("namespace"),
            meta.get("name"),
            e.get("type"),
            e.get("reason"),
            message,
            about.get("kind"),
            about.get("name"),
            first,
            last,
            count,
            component or None,
        )
        self.ctx.count("k8s_events")


def import_kubernetes(path: Path, ctx: ImportContext) -> None:
    """Stream every object of a List (or one object, or an array) into the tables."""
    kf = _KubernetesFile(ctx)
    lead = first_json_byte(path)
    if lead == b"[":
        for _, o in stream_json(path, frozenset({"item"})):
            kf.obj(o)
        return
    if lead != b"{":
        ctx.skip(0, "not a Kubernetes document: expected a JSON object or array"
                 if lead else "empty file: no Kubernetes objects")
        return
    list_kind: str | None = None
    list_api: str | None = None
    top: list[str] = []
    waiting: list[Any] = []  # items without kind seen before the list's own kind
    wanted = frozenset({"items.item", "kind", "apiVersion"})
    for prefix, value in stream_json(path, wanted, top):
        if prefix == "items.item":
            if isinstance(value, dict) and not value.get("kind") and list_kind is None:
                waiting.append(value)
            else:
                kf.obj(value, list_kind, list_api)
            continue
        if prefix == "kind" and isinstance(value, str):
            list_kind = value.removesuffix("List") if value.endswith("List") else None
            if value == "List":
                list_kind = None
        elif prefix == "apiVersion" and isinstance(value, str):
            list_api = value
    for o in waiting:
        kf.obj(o, list_kind, list_api)
    if "items" in top:
        return
    # A single object (not a list): small, read whole.
    kf.obj(load_small_json(path))
