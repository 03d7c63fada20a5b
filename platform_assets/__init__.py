"""platform_assets: a Dagster data platform over a versioned Parquet lake."""

import warnings

# Single-run backfills are what the versioned IO manager is built for; Dagster still
# labels `backfill_policy` beta and would warn once per asset on every import. Matched
# by message so that importing the package (say, the catalog in a notebook) does not
# have to import Dagster.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`.*beta")
