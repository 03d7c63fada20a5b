"""Observability: what run processes record about themselves, and the Prometheus exporter.

`usage` is imported by run processes (storage calls, CPU, memory) and writes nothing
itself: its figures travel in each version's manifest, which the exporter (`exporter`,
`lake_scan`, `dagster_runs`) reads from the lake like any other reader."""
