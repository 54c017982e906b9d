"""Trace backend adapters: Jaeger (v1 and api_v3), Tempo, and the embedded store."""
