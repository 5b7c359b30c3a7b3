"""gpu_pool.csv (which GPUs a scenario may use, at what price) and network_bandwidth.csv (measured GPU-to-GPU
bandwidths), reduced to one bandwidth per pair of pools."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from solver.domain.errors import ConfigError
from solver.domain.hardware import Catalog, Pool
from solver.domain.workload import Settings
from solver.loaders.tables import read_table


def load_pools(path: Path, catalog: Catalog, provider: str) -> list[Pool]:
    """Read gpu_pool.csv; memory and price fall back to the catalog."""
    header, table = read_table(path, "create it with header 'gpu_type,count,memory_gb,dollar_per_hour' and one row "
                                     "per pool.")
    missing = {"gpu_type", "count"} - set(header)
    if missing:
        raise ConfigError(path, f"columns {sorted(missing)} are missing (header is {header}).",
                          "use the header 'gpu_type,count[,memory_gb][,dollar_per_hour]'.", row=1)
    pools: list[Pool] = []
    seen: dict[str, int] = {}
    for row_no, row in table:
        gpu = row["gpu_type"]
        key = catalog.canonical(gpu)
        if key is None:
            raise ConfigError(path, f"unknown GPU type '{gpu}'.",
                              f"use one of {catalog.known_types()}, or add the type to "
                              f"{catalog.directory / 'gpus.csv'}.", row=row_no, field="gpu_type")
        spec = catalog.specs[key]
        count = _number(path, row_no, "count", row["count"], integer=True)
        memory = _number(path, row_no, "memory_gb", row.get("memory_gb", ""), default=spec.memory_gb, positive=True)
        price = _number(path, row_no, "dollar_per_hour", row.get("dollar_per_hour", ""),
                        default=catalog.price(key, provider))
        if price is None:
            raise ConfigError(path, f"no price for '{gpu}' in the catalog (provider '{provider}').",
                              "add a dollar_per_hour column value for this row, or a price to gpu_pools/prices.csv.",
                              row=row_no, field="dollar_per_hour")
        seen[key] = seen.get(key, 0) + 1
        name = key if seen[key] == 1 else f"{key}#{seen[key]}"
        pools.append(Pool(name=name, gpu_type=key, count=int(count), memory_gb=memory, dollar_per_hour=price,
                          spec=spec))
    if not pools:
        raise ConfigError(path, "no GPU pools are listed.", "add at least one row 'gpu_type,count'.")
    return pools


def _number(path: Path, row: int, name: str, text: str, *, integer: bool = False, default: float | None = None,
            positive: bool = False) -> float | None:
    if text == "":
        if default is None and name != "dollar_per_hour":
            raise ConfigError(path, f"'{name}' is empty.", f"give '{name}' a value.", row=row, field=name)
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(path, f"'{text}' is not a number.", f"write '{name}' as a number.", row=row,
                          field=name) from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0) or (integer and not value.is_integer()):
        kind = "a non-negative whole number" if integer else ("a positive number" if positive else "non-negative")
        raise ConfigError(path, f"'{name}' is {text}.", f"make '{name}' {kind}.", row=row, field=name)
    return value


def read_bandwidth_matrix(path: Path, total_gpus: int) -> np.ndarray:
    """Read network_bandwidth.csv: a square GB/s matrix over individual GPUs in pool order."""
    header, table = read_table(path, "give a GPU x GPU matrix with header ',gpu_0,gpu_1,...' in pool order.")
    if (len(table), len(header) - 1) != (total_gpus, total_gpus):
        raise ConfigError(path, f"the matrix is {len(table)}x{len(header) - 1} but gpu_pool.csv lists "
                          f"{total_gpus} GPUs.", f"give a {total_gpus}x{total_gpus} matrix with header "
                          "',gpu_0,gpu_1,...' in pool order, or delete the file to use default bandwidths.")
    values = np.empty((total_gpus, total_gpus))
    for r, (row_no, row) in enumerate(table):
        for c, column in enumerate(header[1:]):
            try:
                values[r, c] = float(row[column])
            except ValueError:
                raise ConfigError(path, f"'{row[column]}' is not a number.", "give every entry in GB/s.",
                                  row=row_no, field=column) from None
    bad = np.argwhere(~np.isfinite(values) | (values <= 0) & ~np.eye(total_gpus, dtype=bool))
    if len(bad):
        r, c = bad[0]
        raise ConfigError(path, f"bandwidth between gpu_{r} and gpu_{c} is {values[r, c]}.",
                          "give every off-diagonal entry a positive GB/s value.", row=table[r][0])
    return values


def _two_value_quantile(low: float, low_count: int, high: float, high_count: int, q: float) -> float:
    """np.quantile (linear) of `low_count` copies of `low` and `high_count` copies of `high` (low <= high),
    without building the array: memory must not grow with the square of the GPU count."""
    position = q * (low_count + high_count - 1)
    below, fraction = int(math.floor(position)), position - math.floor(position)
    at = (lambda i: low if i < low_count else high)
    upper = at(min(below + 1, low_count + high_count - 1))
    return at(below) + fraction * (upper - at(below))


def _default_pair_bandwidth(pool_i: Pool, pool_j: Pool, same: bool, settings: Settings) -> float:
    """Without a measured matrix, GPUs of one pool share nodes of `gpus_per_node` (interconnect bandwidth) and
    every other pair of GPUs gets `inter_node_bandwidth_gbps`; the pair's bandwidth is the percentile over them."""
    q, inter = settings.network_bandwidth_percentile_threshold, settings.inter_node_bandwidth_gbps
    if not same:
        return inter if pool_i.count and pool_j.count else pool_i.spec.interconnect_gbps
    n, node = pool_i.count, pool_i.spec.gpus_per_node
    pairs = n * (n - 1)
    if pairs == 0:
        return pool_i.spec.interconnect_gbps
    inside = (n // node) * node * (node - 1) + (n % node) * (n % node - 1)
    fast = pool_i.spec.interconnect_gbps
    counts = {fast: inside, inter: pairs - inside}
    (low, low_count), (high, high_count) = sorted(counts.items()) if fast != inter else [(fast, pairs), (fast, 0)]
    return _two_value_quantile(low, low_count, high, high_count, q)


def pool_bandwidths(pools: list[Pool], settings: Settings, matrix: np.ndarray | None) -> np.ndarray:
    """Pool-to-pool bandwidth (GB/s) for stage transfers: a low percentile (network_bandwidth_percentile_threshold)
    of the per-GPU links between them."""
    result = np.zeros((len(pools), len(pools)))
    if matrix is None:
        for i, pool_i in enumerate(pools):
            for j, pool_j in enumerate(pools):
                result[i, j] = _default_pair_bandwidth(pool_i, pool_j, i == j, settings)
        return result
    owner = np.repeat(np.arange(len(pools)), [p.count for p in pools])
    q = settings.network_bandwidth_percentile_threshold
    for i, pool_i in enumerate(pools):
        for j in range(len(pools)):
            block = matrix[np.ix_(owner == i, owner == j)]
            if i == j:
                block = block[~np.eye(len(block), dtype=bool)] if len(block) > 1 else np.array([])
            values = np.asarray(block, dtype=float).ravel()
            result[i, j] = np.quantile(values, q) if values.size else pool_i.spec.interconnect_gbps
    return result
