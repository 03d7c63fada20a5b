"""Maintenance of the lake: promotion between environments and canary runs of a code change."""
