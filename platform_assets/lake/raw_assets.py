"""Raw-zone assets: byte-for-byte copies of landed files, one version per landing.

A factory, because every source's raw layer is the same copy with a different name;
domains declare their raw datasets and get checksummed, immutable copies."""

import dagster as dg

from platform_assets.lake.landing import landing_path
from platform_assets.lake.local_fs import LakeLinkError
from platform_assets.lake.resources import LakeResource
from platform_assets.lake.versions import RawFile

RAW_CODE_VERSION = "1"
# Where a raw asset's source lands: read by the landing sensor to know what to watch.
LANDING_DATASET_METADATA = "platform/landing_dataset"
LANDING_EXT_METADATA = "platform/landing_ext"


def _landed(lake: LakeResource, dataset: str, partition: str | None, ext: str) -> RawFile:
    storage = lake.storage()
    rel = landing_path(dataset, partition, ext)
    try:
        data = storage.read_bytes(rel)
    except FileNotFoundError:
        when = f" --start {partition} --end {partition}" if partition else ""
        raise dg.Failure(
            description=f"{storage.uri(rel)} has not landed; land it first (`platform land{when}`)",
            metadata={"expected_uri": storage.uri(rel)},
        ) from None
    except LakeLinkError as error:  # never read through: a planted link could name any file
        raise dg.Failure(
            description=f"{storage.uri(rel)} was not read: {error}", metadata={"link_target": error.target}
        ) from None
    return RawFile(name=rel.rsplit("/", 1)[-1], data=data, source_uri=storage.uri(rel))


def raw_file_asset(
    dataset: str,
    *,
    domain: str,
    description: str,
    partitions_def: dg.PartitionsDefinition | None = None,
    ext: str = "csv",
) -> dg.AssetsDefinition:
    """A raw asset that copies `landing/<dataset>...` into `raw/<dataset>`."""

    common = dict(
        key=["raw", dataset],
        group_name="raw",
        description=description,
        code_version=RAW_CODE_VERSION,
        tags={"zone": "raw", "domain": domain},
        kinds={ext},
        metadata={LANDING_DATASET_METADATA: dataset, LANDING_EXT_METADATA: ext},
    )
    if partitions_def is None:

        @dg.asset(**common)
        def _raw_reference(lake: LakeResource) -> RawFile:
            return _landed(lake, dataset, None, ext)

        return _raw_reference

    @dg.asset(partitions_def=partitions_def, backfill_policy=dg.BackfillPolicy.single_run(), **common)
    def _raw_daily(context: dg.AssetExecutionContext, lake: LakeResource) -> dict[str, RawFile]:
        return {key: _landed(lake, dataset, key, ext) for key in context.partition_keys}

    return _raw_daily
