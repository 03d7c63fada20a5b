"""Maintenance of the lake: promotion between environments, canary runs of a code change,
retention and garbage collection, and storage lifecycle rules."""
