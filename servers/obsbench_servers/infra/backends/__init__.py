"""Infra adapters: the Kubernetes API, a bundle's objects, and Prometheus usage history."""
