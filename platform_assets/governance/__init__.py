"""Governance: classification of assets and columns, and the audit log of who read or changed what."""
