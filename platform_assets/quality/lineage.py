"""Producer-consumer contracts: every column a consumer reads must be one its producer promises.

A consumer declares the columns it reads (`AssetIn(metadata={"columns": [...]})`);
the IO manager reads exactly those. If a producer's contract stops promising one,
the consumer would fail at run time, on some later day; walking the graph finds it
when the change is made."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dagster as dg

from platform_assets.lake.io_manager import COLUMNS_KEY
from platform_assets.quality.contracts import Contract, contract_columns


@dataclass(frozen=True)
class UnguaranteedRead:
    consumer: str
    producer: str
    columns: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.consumer} reads {list(self.columns)} from {self.producer}, whose contract lacks them"


def declared_reads(assets: Iterable[dg.AssetsDefinition]) -> list[tuple[dg.AssetKey, dg.AssetKey, list[str]]]:
    """(consumer, producer, columns) for every input that names its columns."""
    reads = []
    for asset in assets:
        input_defs = {d.name: d for d in asset.node_def.input_defs}
        for name, producer in asset.keys_by_input_name.items():
            columns = (input_defs[name].metadata or {}).get(COLUMNS_KEY) if name in input_defs else None
            if columns is None:
                continue
            for consumer in asset.keys:
                reads.append((consumer, producer, list(columns)))
    return reads


def unguaranteed_reads(
    assets: Iterable[dg.AssetsDefinition], contracts: Mapping[tuple[str, ...], Contract]
) -> list[UnguaranteedRead]:
    """Reads of columns the producer's contract does not promise (or of producers without one)."""
    problems = []
    for consumer, producer, columns in declared_reads(assets):
        contract = contracts.get(tuple(producer.path))
        promised = set(contract_columns(contract)) if contract is not None else set()
        missing = tuple(c for c in columns if c not in promised)
        if missing:
            problems.append(UnguaranteedRead(consumer.to_user_string(), producer.to_user_string(), missing))
    return problems
