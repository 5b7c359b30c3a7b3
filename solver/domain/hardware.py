"""Hardware as the planner sees it: a GPU type's specification and efficiency factors, the catalog of all types
and their prices, and a pool of GPUs of one type that a scenario may use."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from solver.domain.errors import UserError

CALIBRATED_FIELDS = ("compute_efficiency", "memory_efficiency", "attention_efficiency", "comm_efficiency",
                     "layer_overhead_us", "step_overhead_ms", "seq_overhead_us")


class GpuSpec(BaseModel):
    """One GPU type as the performance model sees it (per GPU, dense figures). The efficiencies and overheads are
    datasheet priors unless calibration replaced them; a Solution records the ones in effect."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    gpu_type: str
    memory_gb: float
    bf16_tflops: float
    fp8_tflops: float
    int8_tops: float
    hbm_bandwidth_gbps: float
    interconnect: str
    interconnect_gbps: float
    gpus_per_node: int
    compute_efficiency: float
    memory_efficiency: float
    attention_efficiency: float
    comm_efficiency: float
    layer_overhead_us: float
    step_overhead_ms: float
    seq_overhead_us: float = 0.0  # per sequence per engine step: scheduling, sampling, detokenisation (CPU)
    cuda_memory_gib: float | None = None  # what CUDA reports as the card's total (ECC and the driver take some)

    def visible_memory_share(self) -> float:
        """The share of the memory a card is sold with ("80 GB" = 80 GiB) that CUDA, and so vLLM, can see: 0.99 on
        HBM cards, ~0.92 on GDDR cards with ECC on; 1 where the catalog does not say."""
        return self.cuda_memory_gib / self.memory_gb if self.cuda_memory_gib else 1.0

    def peak_tflops(self, precision: str) -> float:
        """Peak dense TFLOPS for the matmuls of `precision` (weight-only formats compute in bf16)."""
        if precision == "fp8" and self.fp8_tflops > 0:
            return self.fp8_tflops
        if precision == "int8" and self.int8_tops > 0:
            return self.int8_tops
        return self.bf16_tflops


class InstanceType(BaseModel):
    """A cloud instance: GPUs of one type in one machine, rented by the instance-hour."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    provider: str
    name: str
    gpu_type: str
    gpus: int = Field(ge=1)
    memory_gb: float = Field(gt=0)
    dollar_per_hour: float = Field(ge=0)


class Catalog(BaseModel):
    """All GPU types and their prices; look-ups accept aliases case-insensitively."""

    model_config = ConfigDict(frozen=True)
    specs: dict[str, GpuSpec]
    aliases: dict[str, str]
    prices: dict[str, dict[str, float]]
    directory: Path
    instances: dict[str, InstanceType] = Field(default_factory=dict)  # by upper-case name
    calibration: str = "none"  # the factors' table: "default", a profile name, a CSV path, "none" (priors)

    def instance(self, name: str) -> InstanceType | None:
        return self.instances.get(name.strip().upper())

    def canonical(self, name: str) -> str | None:
        return self.aliases.get(name.strip().upper())

    def require(self, name: str, option: str = "") -> str:
        """The canonical name of a GPU type a user gave (in `option`, where named); an unknown one is a UserError
        naming the known types."""
        key = self.canonical(name)
        if key is None:
            where = f" in {option}" if option else ""
            raise UserError(f"unknown GPU type '{name}'{where}. Fix: use one of {self.known_types()}.")
        return key

    def spec(self, name: str) -> GpuSpec:
        key = self.canonical(name)
        if key is None:
            raise KeyError(name)
        return self.specs[key]

    def price(self, name: str, provider: str = "lowest") -> float | None:
        """$/GPU-hour from `provider`, or the lowest listed price when provider is 'lowest'."""
        key = self.canonical(name)
        listed = self.prices.get(key or "", {})
        if not listed:
            return None
        if provider == "lowest":
            return min(listed.values())
        return listed.get(provider.lower())

    def known_types(self) -> str:
        return ", ".join(sorted(self.specs))


class Pool(BaseModel):
    """GPUs of one type a scenario may use (one row of gpu_pool.csv), with the catalog spec in effect."""

    model_config = ConfigDict(extra="forbid")
    name: str
    gpu_type: str
    count: int = Field(ge=0)
    memory_gb: float = Field(gt=0)
    dollar_per_hour: float = Field(ge=0)
    spec: GpuSpec
    instance: InstanceType | None = Field(default=None, description="set when the pool lists cloud instances")

    @property
    def max_tp(self) -> int:
        return min(self.count, self.spec.gpus_per_node)

    def instances_for(self, gpus: int) -> int:
        """Instances to rent for `gpus` GPUs of this pool (TP groups never straddle instances)."""
        return -(-gpus // self.instance.gpus) if self.instance else 0

    @classmethod
    def of_type(cls, spec: GpuSpec, count: int, dollar_per_hour: float = 0.0) -> Pool:
        """A pool of `count` GPUs of one catalog type at its datasheet memory (what `predict` and calibration
        evaluate)."""
        return cls(name=spec.gpu_type, gpu_type=spec.gpu_type, count=count, memory_gb=spec.memory_gb,
                   dollar_per_hour=dollar_per_hour, spec=spec)
