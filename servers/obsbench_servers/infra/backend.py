"""What an infra backend provides: Kubernetes objects and events, as the API returns them.

The Protocol is deliberately small — list objects of a resource (optionally in a
namespace, optionally by label selector) and list events of a window — so that the
live API (``backends/kubernetes.py``) and a bundle's ``kubectl get -o json`` exports
(``backends/local.py``) are interchangeable and everything that interprets objects
(``status``, ``changes``, ``rightsizing``...) is written once.

A missing RBAC permission is not a failed tool: ``Fetch`` records which permission
(verb, resource, namespace) was refused, carries on with the rest, and the tool says
what it could not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from obsbench_servers.common.errors import BackendError
from obsbench_servers.infra.k8s import KubeEvent


@dataclass(frozen=True)
class Resource:
    """One API resource: where it lives and what its objects are called."""

    plural: str
    kind: str
    group: str = ""
    version: str = "v1"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.plural}" if namespace else \
            f"{base}/{self.plural}"


RESOURCES: dict[str, Resource] = {r.plural: r for r in (
    Resource("deployments", "Deployment", "apps"),
    Resource("statefulsets", "StatefulSet", "apps"),
    Resource("daemonsets", "DaemonSet", "apps"),
    Resource("replicasets", "ReplicaSet", "apps"),
    Resource("pods", "Pod"),
    Resource("events", "Event"),
    Resource("configmaps", "ConfigMap"),
    Resource("secrets", "Secret"),  # metadata only: values are never read
    Resource("horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling", "v2"),
    Resource("podmetrics", "PodMetrics", "metrics.k8s.io", "v1beta1"),
)}
# The API path segment of podmetrics is "pods" under metrics.k8s.io.
API_PLURAL = {"podmetrics": "pods"}


class PermissionDeniedError(BackendError):
    """The API server answered 403 for one resource: which permission is missing."""

    def __init__(self, verb: str, resource: Resource, namespace: str | None,
                 detail: str = "") -> None:
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        where = f"in namespace {namespace!r}" if namespace else "cluster-wide (all namespaces)"
        group = resource.group or "core"
        message = (f"Kubernetes refused to {verb} {resource.plural} ({group} API group) {where}"
                   + (f": {detail}" if detail else ""))
        hint = (f"grant the account RBAC permission '{verb}' on '{resource.plural}' "
                f"(apiGroups: [\"{resource.group}\"]) {where}, e.g. "
                f"`kubectl auth can-i {verb} {resource.plural}"
                + (f" -n {namespace}`" if namespace else " -A`"))
        super().__init__(message, hint)

    def permission(self) -> dict[str, str]:
        return {"verb": self.verb, "resource": self.resource.plural,
                "group": self.resource.group or "", "namespace": self.namespace or "*",
                "message": self.message}


@runtime_checkable
class InfraBackend(Protocol):
    """One cluster, live or exported."""

    label: str
    type: str

    def list_objects(self, resource: str, namespace: str | None = None, *,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        """Objects of ``resource`` (a ``RESOURCES`` key), with ``kind`` and ``apiVersion`` set."""
        ...

    def events(self, namespace: str | None, start_ns: int, end_ns: int) -> list[KubeEvent]: ...

    def default_namespace(self) -> str | None: ...

    def snapshot_ns(self) -> int | None:
        """When the objects were captured (a bundle's export); None for a live cluster."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class Fetch:
    """Per-call access to an infra backend that records refused permissions and goes on."""

    backend: InfraBackend
    missing: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Worker threads are reused: drop notes a failed earlier call on this thread left.
        take = getattr(self.backend, "take_notes", None)
        if callable(take):
            take()

    def _deny(self, exc: PermissionDeniedError) -> None:
        perm = exc.permission()
        if perm not in self.missing:
            self.missing.append(perm)

    def list_objects(self, resource: str, namespace: str | None = None, *,
             label_selector: str | None = None, required: bool = False) -> list[dict[str, Any]]:
        res = RESOURCES[resource]
        self.requests.append(
            f"GET {res.path(namespace)}" + (f"?labelSelector={label_selector}"
                                            if label_selector else ""))
        try:
            return self.backend.list_objects(resource, namespace, label_selector=label_selector)
        except PermissionDeniedError as exc:
            fallback = self.backend.default_namespace()
            if namespace is None and fallback:
                self.notes.append(f"cannot list {resource} in all namespaces; "
                                  f"showing namespace {fallback!r} only")
                self._deny(exc)
                return self.list_objects(resource, fallback, label_selector=label_selector,
                                 required=required)
            self._deny(exc)
            if required:
                raise
            return []

    def events(self, namespace: str | None, start_ns: int, end_ns: int) -> list[KubeEvent]:
        self.requests.append(f"GET {RESOURCES['events'].path(namespace)}")
        try:
            return self.backend.events(namespace, start_ns, end_ns)
        except PermissionDeniedError as exc:
            fallback = self.backend.default_namespace()
            if namespace is None and fallback:
                self._deny(exc)
                self.notes.append(f"cannot list events in all namespaces; showing namespace "
                                  f"{fallback!r} only")
                return self.events(fallback, start_ns, end_ns)
            self._deny(exc)
            return []

    def _take_notes(self) -> None:
        """Collect what the backend left out (an optional method: bundles leave nothing out)."""
        take = getattr(self.backend, "take_notes", None)
        if callable(take):
            for note in take():
                if note not in self.notes:
                    self.notes.append(note)

    def warnings(self) -> list[str]:
        self._take_notes()
        out = list(self.notes)
        for p in self.missing:
            ns = "all namespaces" if p["namespace"] == "*" else f"namespace {p['namespace']}"
            out.append(f"missing permission: {p['verb']} {p['resource']} in {ns} "
                       f"(RBAC, apiGroup {p['group'] or 'core'}); that part is not shown")
        return out
