"""platform_assets: a Dagster data platform over a versioned Parquet lake."""

import warnings

import dagster as dg

# Single-run backfills are what the versioned IO manager is built for; Dagster still
# labels `backfill_policy` beta and would warn once per asset on every import.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
