"""gpu_pool.csv (which GPUs a scenario may use, at what price) and network_bandwidth.csv (measured GPU-to-GPU
bandwidths), reduced to one bandwidth per pair of pools."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from solver.domain.errors import ConfigError
from solver.domain.hardware import Catalog, Pool
from solver.domain.workload import Settings
from solver.loaders.tables import number, read_table


def load_pools(path: Path, catalog: Catalog, provider: str) -> tuple[list[Pool], list[str]]:
    """Read gpu_pool.csv, rows of GPUs (`gpu_type,count[,memory_gb][,dollar_per_hour]`) or of cloud instances
    (`instance_name,count`, the fork's layout); memory and prices fall back to the catalog. Also returns notes on
    prices taken from elsewhere than the chosen provider."""
    header, table = read_table(path, "create it with header 'gpu_type,count,memory_gb,dollar_per_hour' (or "
                                     "'instance_name,count') and one row per pool.")
    kind = "instance_name" if "instance_name" in header else "gpu_type"
    missing = {kind, "count"} - set(header)
    if missing:
        raise ConfigError(path, f"columns {sorted(missing)} are missing (header is {header}).",
                          "use the header 'gpu_type,count[,memory_gb][,dollar_per_hour]' or 'instance_name,count'.",
                          row=1)
    pools: list[Pool] = []
    fallbacks: list[str] = []
    catalog_priced = kind == "gpu_type" and "dollar_per_hour" not in header
    for row_no, row in table:
        count = int(number(path, row_no, "count", row["count"], integer=True) or 0)
        if kind == "instance_name":
            pool = _instance_pool(path, row_no, row, count, catalog)
        else:
            pool, fell_back = _gpu_pool(path, row_no, row, count, catalog, provider)
            if fell_back:
                fallbacks.append(pool.gpu_type)
        same = sum(p.name.split("#")[0] == pool.name for p in pools)
        pools.append(pool.model_copy(update={"name": f"{pool.name}#{same + 1}"}) if same else pool)
    if not pools:
        raise ConfigError(path, "no GPU pools are listed.", "add at least one row 'gpu_type,count'.")
    if not any(p.count for p in pools):
        raise ConfigError(path, "every pool has count 0: there are no GPUs to place the model on.",
                          "give at least one pool a positive count.", field="count")
    notes = [f"{path}: no {provider} price for {', '.join(sorted(set(fallbacks)))} in the catalog; the lowest listed "
             "price of each is used (give a dollar_per_hour column to set it)."] if fallbacks else []
    if catalog_priced and provider == "lowest":
        notes.append(f"{path} gives no dollar_per_hour: each GPU type is priced at its lowest catalog price (the older "
                     "solver priced them at AWS's: pass --cloud-provider AWS for that).")
    return pools, notes


def _gpu_pool(path: Path, row_no: int, row: dict[str, str], count: int, catalog: Catalog, provider: str
              ) -> tuple[Pool, bool]:
    gpu = row["gpu_type"]
    key = catalog.canonical(gpu)
    if key is None:
        raise ConfigError(path, f"unknown GPU type '{gpu}'.",
                          f"use one of {catalog.known_types()}, or add the type to {catalog.directory / 'gpus.csv'}.",
                          row=row_no, field="gpu_type")
    spec = catalog.specs[key]
    memory = number(path, row_no, "memory_gb", row.get("memory_gb", ""), default=spec.memory_gb, positive=True)
    listed = catalog.price(key, provider)
    fell_back = listed is None and provider != "lowest" and not row.get("dollar_per_hour")
    price = number(path, row_no, "dollar_per_hour", row.get("dollar_per_hour", ""),
                   default=catalog.price(key, "lowest") if fell_back else listed, optional=True)
    if price is None:
        raise ConfigError(path, f"no price for '{gpu}' in the catalog (provider '{provider}').",
                          "add a dollar_per_hour column value for this row, or a price to gpu_pools/prices.csv.",
                          row=row_no, field="dollar_per_hour")
    return Pool(name=key, gpu_type=key, count=count, memory_gb=memory, dollar_per_hour=price, spec=spec), fell_back


def _instance_pool(path: Path, row_no: int, row: dict[str, str], count: int, catalog: Catalog) -> Pool:
    """`count` instances of a catalog instance type: count x GPUs, TP groups inside one instance, price per GPU the
    instance's price (or the row's dollar_per_hour, per instance-hour) over its GPUs."""
    instance = catalog.instance(row["instance_name"])
    if instance is None:
        known = ", ".join(sorted(i.name for i in catalog.instances.values()))
        raise ConfigError(path, f"unknown instance '{row['instance_name']}'.",
                          f"use one of {known}, or add it to {catalog.directory / 'instances.csv'}.", row=row_no,
                          field="instance_name")
    per_instance = number(path, row_no, "dollar_per_hour", row.get("dollar_per_hour", ""),
                           default=instance.dollar_per_hour)
    spec = catalog.specs[instance.gpu_type]
    return Pool(name=instance.name, gpu_type=instance.gpu_type, count=count * instance.gpus,
                memory_gb=number(path, row_no, "memory_gb", row.get("memory_gb", ""), default=instance.memory_gb,
                                  positive=True),
                dollar_per_hour=(per_instance or 0.0) / instance.gpus,
                spec=spec.model_copy(update={"gpus_per_node": min(instance.gpus, spec.gpus_per_node)}),
                instance=instance)


def read_bandwidth_matrix(path: Path, total_gpus: int) -> np.ndarray:
    """Read network_bandwidth.csv: a square GB/s matrix over individual GPUs in pool order."""
    header, table = read_table(path, "give a GPU x GPU matrix with header ',gpu_0,gpu_1,...' in pool order.")
    if (len(table), len(header) - 1) != (total_gpus, total_gpus):
        raise ConfigError(path, f"the matrix is {len(table)}x{len(header) - 1} but gpu_pool.csv lists "
                          f"{total_gpus} GPUs.", f"give a {total_gpus}x{total_gpus} matrix with header "
                          "',gpu_0,gpu_1,...' in pool order, delete the file to use default bandwidths, or pass "
                          "--generate-network INTRA INTER (GB/s within / between GPU types) as the older scripts did.")
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


def generated_bandwidths(pools: list[Pool], intra_gbps: float, inter_gbps: float) -> np.ndarray:
    """The older solver's --generate-network INTRA INTER: GPUs of one type talk at INTRA GB/s, of two types at
    INTER GB/s (instead of a measured matrix)."""
    return np.array([[intra_gbps if a.gpu_type == b.gpu_type else inter_gbps for b in pools] for a in pools])


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
