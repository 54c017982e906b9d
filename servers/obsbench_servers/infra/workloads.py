"""From a service name to its workload (Deployment, StatefulSet, DaemonSet) and pods.

People and models say "user-api" or "redis"; the cluster says Deployment
``shop/user-api`` or StatefulSet ``data/redis-master``. The lookup tries the exact
name, then the ``app.kubernetes.io/name`` / ``app`` label, then a unique
``NAME-...`` prefix, and otherwise fails with the closest names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from obsbench_servers.common.errors import BadInputError, NotFoundError
from obsbench_servers.common.suggest import did_you_mean
from obsbench_servers.infra.backend import Fetch
from obsbench_servers.infra.k8s import labels_of, name_of, namespace_of, selector_string

WORKLOAD_RESOURCES = ("deployments", "statefulsets", "daemonsets")


@dataclass
class Workload:
    kind: str
    name: str
    namespace: str
    obj: dict[str, Any]

    @property
    def spec(self) -> dict[str, Any]:
        s = self.obj.get("spec")
        return s if isinstance(s, dict) else {}

    @property
    def status(self) -> dict[str, Any]:
        s = self.obj.get("status")
        return s if isinstance(s, dict) else {}

    @property
    def selector(self) -> str:
        return selector_string(self.spec.get("selector"))

    @property
    def template(self) -> dict[str, Any]:
        tpl = self.spec.get("template")
        return tpl if isinstance(tpl, dict) else {}

    @property
    def containers(self) -> list[dict[str, Any]]:
        spec = self.template.get("spec") or {}
        return [c for c in spec.get("containers") or () if isinstance(c, dict)]

    @property
    def pod_pattern(self) -> str:
        """A regex for this workload's pod names (cAdvisor series carry only ``pod``)."""
        n = self.name.replace(".", "\\.")  # DNS-1123 names: '.' is the only metacharacter
        if self.kind == "StatefulSet":
            return f"{n}-[0-9]+"
        if self.kind == "DaemonSet":
            return f"{n}-[a-z0-9]{{5}}"
        return f"{n}-[a-z0-9]+-[a-z0-9]{{5}}"

    def ref(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "namespace": self.namespace}

    def owns_object_name(self, name: str) -> bool:
        """True for the workload itself and its ReplicaSets/pods (event subjects)."""
        return name == self.name or re.fullmatch(
            f"{re.escape(self.name)}-[a-z0-9]+(-[a-z0-9]+)?", name) is not None


def all_workloads(fetch: Fetch, namespace: str | None = None) -> list[Workload]:
    out = []
    for resource in WORKLOAD_RESOURCES:
        for obj in fetch.list_objects(resource, namespace):
            out.append(Workload(str(obj.get("kind")), name_of(obj), namespace_of(obj), obj))
    return out


def find_workload(fetch: Fetch, service: str, namespace: str | None = None) -> Workload:
    """The workload of ``service`` (see the module docstring), or NotFoundError with hints."""
    name = (service or "").strip()
    if not name:
        raise BadInputError("service is empty", "give a service (Deployment) name, e.g. user-api")
    workloads = all_workloads(fetch, namespace)
    if not workloads and fetch.missing:
        perm = fetch.missing[0]
        raise NotFoundError(
            f"cannot look up {name!r}: {perm['message']}",
            f"grant 'list' on {perm['resource']} (and deployments/statefulsets) to the account")
    for match in (
        [w for w in workloads if w.name == name],
        [w for w in workloads if labels_of(w.obj).get("app.kubernetes.io/name") == name
         or labels_of(w.obj).get("app") == name],
        [w for w in workloads if w.name.startswith(name + "-")],
    ):
        if len(match) == 1:
            return match[0]
        if len(match) > 1:
            # Prefer a Deployment; otherwise the namespaces tell them apart.
            deployments = [w for w in match if w.kind == "Deployment"]
            if len(deployments) == 1:
                return deployments[0]
            places = ", ".join(f"{w.kind} {w.namespace}/{w.name}" for w in match)
            raise BadInputError(f"{name!r} is ambiguous: {places}",
                                "pass namespace to choose one")
    where = f" in namespace {namespace!r}" if namespace else ""
    names = sorted({w.name for w in workloads})
    raise NotFoundError(f"no Deployment, StatefulSet or DaemonSet named {name!r}{where}",
                        did_you_mean(name, names, "workload"))


def workload_pods(fetch: Fetch, w: Workload) -> list[dict[str, Any]]:
    if not w.selector:
        return []
    return fetch.list_objects("pods", w.namespace, label_selector=w.selector)
