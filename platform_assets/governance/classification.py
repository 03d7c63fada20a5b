"""Classification of assets and columns: declared with the contract, checked over the graph.

A contract declares a default for its columns (`class Config: metadata =
contract_default("public")`) and any column that differs says so in its field
metadata (`pa.Field(..., metadata=classified("internal"))`). An asset is as
classified as its most classified column. The level appears as the asset's
`classification` tag, on every column of `dagster/column_schema`, in each version's
manifest, and it decides how long quarantine is kept and who the catalog lets read.

The lineage rule: a column is at least as classified as the input columns it is made
from. Those are, in order, the columns its field names in `derived_from`
(`"<column>"` or `"<input>.<column>"`, an input's name or its asset's last key part),
else the same-named columns the asset reads, else every column the asset reads.
Only an explicit `declassified(level, reason)` on the field lowers a column below
its inputs (an aggregate, a yes/no flag), and the reason is kept with it."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI and the catalog use levels and roles without loading Dagster or pandera
    import dagster as dg
    import pandera.pandas as pandera

    Contract = type[pandera.DataFrameModel]

CLASSIFICATION_FIELD = "classification"
DERIVED_FROM_FIELD = "derived_from"
DECLASSIFIED_FIELD = "declassified"
CLASSIFICATION_TAG = "classification"
CLASSIFICATION_METADATA_KEY = "platform/classification"


class Classification(IntEnum):
    """Ordered: a higher level needs more to read and is kept for less time."""

    PUBLIC = 0
    INTERNAL = 1
    CONFIDENTIAL = 2
    RESTRICTED = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str, where: str = "") -> Classification:
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            levels = ", ".join(level.label for level in cls)
            raise ClassificationError(f"{where}{text!r} is not a classification ({levels})") from None


class ClassificationError(ValueError):
    """A missing or unknown classification, or a lineage the rule cannot resolve."""


# Declaring


def contract_default(level: str) -> dict[str, str]:
    """`Config.metadata` of a contract: the level of every column that does not say otherwise."""
    return {CLASSIFICATION_FIELD: Classification.parse(level).label}


def classified(level: str, *, derived_from: Sequence[str] = ()) -> dict[str, Any]:
    """Field metadata for a column's level and, when it is computed, the inputs it is made from."""
    metadata: dict[str, Any] = {CLASSIFICATION_FIELD: Classification.parse(level).label}
    if derived_from:
        metadata[DERIVED_FROM_FIELD] = list(derived_from)
    return metadata


def declassified(level: str, reason: str, *, derived_from: Sequence[str] = ()) -> dict[str, Any]:
    """Field metadata for a column deliberately less classified than its inputs, and why."""
    if not reason.strip():
        raise ClassificationError("a declassification needs its reason")
    return {**classified(level, derived_from=derived_from), DECLASSIFIED_FIELD: reason}


# Reading a contract


@dataclass(frozen=True)
class ColumnClass:
    level: Classification
    derived_from: tuple[str, ...] = ()
    declassified: str | None = None


def _config_metadata(contract: Contract) -> Mapping[str, Any]:
    contract.to_schema()  # pandera merges inherited Config into __config__ here
    return getattr(contract.__config__, "metadata", None) or {}


@cache
def column_classes(contract: Contract) -> dict[str, ColumnClass]:
    """Every column's classification; a column with neither its own nor a contract default is an error."""
    name = contract.__name__
    default = _config_metadata(contract).get(CLASSIFICATION_FIELD)
    out = {}
    for column, spec in contract.to_schema().columns.items():
        metadata = spec.metadata or {}
        level = metadata.get(CLASSIFICATION_FIELD, default)
        if level is None:
            raise ClassificationError(
                f"{name}.{column} has no classification: give the field metadata=classified(...) "
                "or the contract a Config.metadata default"
            )
        out[column] = ColumnClass(
            Classification.parse(level, f"{name}.{column}: "),
            tuple(metadata.get(DERIVED_FROM_FIELD, ())),
            metadata.get(DECLASSIFIED_FIELD),
        )
    return out


def asset_classification(contract: Contract) -> Classification:
    """The most classified column's level: the asset holds it."""
    levels = [c.level for c in column_classes(contract).values()]
    return max(levels, default=Classification.PUBLIC)


def classification_record(contract: Contract) -> dict[str, Any]:
    """What a manifest records, and what the catalog and retention read back."""
    columns = column_classes(contract)
    return {
        "asset": asset_classification(contract).label,
        "columns": {name: c.level.label for name, c in columns.items()},
        "declassified": {name: c.declassified for name, c in columns.items() if c.declassified},
    }


def column_tags(contract: Contract) -> dict[str, dict[str, str]]:
    """Per column, the tags its `TableColumn` carries in the UI."""
    return {name: {CLASSIFICATION_TAG: c.level.label} for name, c in column_classes(contract).items()}


def definition_metadata(contract: Contract) -> dict[str, Any]:
    import dagster as dg

    return {CLASSIFICATION_METADATA_KEY: dg.MetadataValue.json(classification_record(contract))}


def definition_tags(contract: Contract) -> dict[str, str]:
    return {CLASSIFICATION_TAG: asset_classification(contract).label}


def record_of(manifest_or_metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """The classification record in a manifest or a spec's metadata, unwrapped."""
    value = manifest_or_metadata.get(CLASSIFICATION_METADATA_KEY, manifest_or_metadata.get("classification"))
    value = getattr(value, "value", value)  # JsonMetadataValue in definitions, a dict in manifests
    return value if isinstance(value, dict) else None


# Checking the graph


@dataclass(frozen=True)
class Underclassified:
    asset: str
    column: str
    level: Classification
    required: Classification
    sources: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.asset}.{self.column} is {self.level.label} but is made from {list(self.sources)}, "
            f"so it must be at least {self.required.label} (or declare declassified(level, reason))"
        )


def _inputs(
    asset: dg.AssetsDefinition, consumer: dg.AssetKey, contracts: Mapping[tuple[str, ...], Contract]
) -> dict[str, Any]:
    """Per input name: (producer key, {column: level}) for the columns this asset reads."""
    from platform_assets.lake.io_manager import COLUMNS_KEY  # the IO manager records manifests with ours

    input_defs = {d.name: d for d in asset.node_def.input_defs}
    found = {}
    for name, producer in asset.keys_by_input_name.items():
        contract = contracts.get(tuple(producer.path))
        if contract is None:
            raise ClassificationError(
                f"{consumer.to_user_string()} reads {producer.to_user_string()}, which has no contract"
            )
        levels = {c: v.level for c, v in column_classes(contract).items()}
        declared = (input_defs[name].metadata or {}).get(COLUMNS_KEY) if name in input_defs else None
        read = {c: levels[c] for c in declared} if declared is not None else levels
        found[name] = (producer, read)
    return found


def _resolve(source: str, inputs: Mapping[str, Any], where: str) -> list[tuple[str, Classification]]:
    prefix, _, column = source.rpartition(".")
    matches = []
    for name, (producer, read) in inputs.items():
        if prefix and prefix not in (name, producer.path[-1]):
            continue
        if column in read:
            matches.append((f"{producer.to_user_string()}.{column}", read[column]))
    if not matches:
        raise ClassificationError(f"{where}: derived_from names {source!r}, which no input provides")
    return matches


def underclassified(
    assets: Iterable[dg.AssetsDefinition], contracts: Mapping[tuple[str, ...], Contract]
) -> list[Underclassified]:
    """Columns less classified than what they are made from, without an explicit declassification."""
    problems = []
    for asset, key in [(a, k) for a in assets for k in a.keys]:
        contract = contracts.get(tuple(key.path))
        if contract is None or not asset.keys_by_input_name:
            continue
        inputs = _inputs(asset, key, contracts)
        every = [(f"{p.to_user_string()}.{c}", lvl) for p, read in inputs.values() for c, lvl in read.items()]
        for column, spec in column_classes(contract).items():
            where = f"{key.to_user_string()}.{column}"
            if spec.derived_from:
                sources = [m for s in spec.derived_from for m in _resolve(s, inputs, where)]
            else:
                same = [
                    (f"{p.to_user_string()}.{column}", r[column]) for p, r in inputs.values() if column in r
                ]
                sources = same or every
            if spec.declassified or not sources:
                continue
            required = max(level for _, level in sources)
            if spec.level < required:
                names = tuple(sorted(n for n, level in sources if level == required))
                problems.append(Underclassified(key.to_user_string(), column, spec.level, required, names))
    return problems


# Reader roles


@cache
def _config() -> dict[str, Any]:
    text = resources.files("platform_assets.governance").joinpath("governance.toml").read_text()
    return tomllib.loads(text)


def unlabelled_level() -> Classification:
    """The level assumed for versions written before classification existed."""
    return Classification.parse(_config()["classification"]["unlabelled"], "governance.toml unlabelled: ")


def default_role() -> str:
    return str(_config()["roles"]["default"])


def role_clearance(role: str) -> Classification:
    """The most classified data a reader role may read through the catalog."""
    clearances = _config()["roles"]["clearance"]
    if role not in clearances:
        raise ClassificationError(
            f"reader role {role!r} is not one of {sorted(clearances)} (governance.toml)"
        )
    return Classification.parse(clearances[role], f"governance.toml role {role}: ")
