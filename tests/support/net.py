"""Loopback helpers for tests."""

from __future__ import annotations

from emulation.local_prometheus import free_port, wait_for

__all__ = ["exposition", "free_port", "wait_for"]


def exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of a Prometheus text exposition, keyed by (name, labels)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out
