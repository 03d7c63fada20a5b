"""Maintenance of the lake: retention and garbage collection, storage lifecycle rules."""
