"""Governance the platform enforces rather than leaves to each engineer.

- classification of assets and columns, and the audit log of who read or changed what;
- `iam`: least-privilege IAM policies derived from the asset graph (`platform iam-policies`);
- `identity`: which AWS profile a run or command acts as (a run's `zone` tag picks it);
- `encryption`: server-side encryption required outside dev, checked at start and asked for on every write;
- `regions`: the regions each domain's data may live in, checked before writing or promoting;
- `guard`: the start-up checks, in the one function that opens a lake (`open_lake`)."""
