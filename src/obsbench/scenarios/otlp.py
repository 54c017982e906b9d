"""OTLP/JSON building blocks (the protobuf JSON mapping the Collector's file exporter writes).

Ids are lower-case hex, 64-bit integers and ``*UnixNano`` times are strings,
enums are integers; one ``Export*ServiceRequest`` per line.
"""

from __future__ import annotations

from typing import Any

from obsbench.scenarios.topology import CLUSTER, Service
from obsbench.scenarios.world import Pod

SPAN_KIND = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
STATUS_ERROR = 2

SDK = {
    "node": ("nodejs", "1.25.1"), "go": ("go", "1.28.0"), "java": ("java", "1.38.0"),
    "python": ("python", "1.26.0"), "dotnet": ("dotnet", "1.9.0"), "envoy": ("cpp", "1.29.2"),
    "c": ("cpp", "1.0.0"),
}

SCOPES = {
    ("node", "http"): ("@opentelemetry/instrumentation-http", "0.52.1"),
    ("node", "server"): ("@opentelemetry/instrumentation-fastify", "0.38.0"),
    ("go", "http"): ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.53.0"),
    ("go", "db"): ("github.com/exaring/otelpgx", "0.6.2"),
    ("go", "cache"): ("github.com/redis/go-redis/extra/redisotel", "9.5.1"),
    ("java", "http"): ("io.opentelemetry.spring-webmvc-6.0", "2.6.0-alpha"),
    ("java", "client"): ("io.opentelemetry.http-url-connection", "2.6.0-alpha"),
    ("java", "db"): ("io.opentelemetry.jdbc", "2.6.0-alpha"),
    ("java", "messaging"): ("io.opentelemetry.kafka-clients-2.6", "2.6.0-alpha"),
    ("python", "http"): ("opentelemetry.instrumentation.fastapi", "0.47b0"),
    ("python", "db"): ("opentelemetry.instrumentation.sqlalchemy", "0.47b0"),
    ("python", "cache"): ("opentelemetry.instrumentation.redis", "0.47b0"),
    ("dotnet", "messaging"): ("Confluent.Kafka.Extensions.OpenTelemetry", "0.4.0"),
    ("envoy", "http"): ("envoy", "1.29.2"),
}


def attr(key: str, value: Any) -> dict[str, Any]:
    """One OTLP KeyValue."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def attrs(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [attr(k, v) for k, v in d.items()]


def resource(svc: Service, pod: Pod | None, version: str) -> dict[str, Any]:
    lang, sdk_version = SDK.get(svc.language, ("unknown", "1.0.0"))
    d: dict[str, Any] = {
        "service.name": svc.name, "service.namespace": "shop", "service.version": version,
        "deployment.environment": "prod", "telemetry.sdk.language": lang,
        "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": sdk_version,
        "k8s.cluster.name": CLUSTER, "k8s.namespace.name": svc.namespace,
    }
    if pod is not None:
        d["k8s.pod.name"] = pod.name
        d["k8s.node.name"] = pod.node
        if svc.workload == "Deployment":
            d["k8s.deployment.name"] = svc.name
        d["host.name"] = pod.name
    return {"attributes": attrs(d)}


def scope(language: str, kind: str) -> dict[str, str]:
    name, version = SCOPES.get((language, kind)) or SCOPES.get((language, "http")) or (
        "io.opentelemetry", "1.0.0")
    return {"name": name, "version": version}
