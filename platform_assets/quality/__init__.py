"""Data CI: contracts become blocking checks, and a failed audit never reaches a reader.

    contracts.py    pandera contracts: column schema for the UI, validation, failure cases
    landed.py       landed files parsed against a source's raw contract
    quarantine.py   row-level screening: rejected rows leave, with every rule they broke
    history.py      volume, null-rate and distribution checks against published history
    integrity.py    referential integrity with a per-relation policy (warn or report)
    audit.py        the check factory: write, audit, publish
    outcome.py      per-partition verdicts, summarised as Dagster check results
    config.py       quality.toml defaults, overridden per domain and per asset
    lineage.py      consumers read only columns their producers' contracts promise

This package knows nothing about any domain: domains declare `AuditSpec`s."""
