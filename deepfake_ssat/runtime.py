"""Where and how a run executes: device, torchrun/DDP process group, precision, seeds."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    amp_dtype: torch.dtype | None = None  # None: full fp32

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def precision_name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def reduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum a tensor over ranks (identity on one process)."""
        if self.distributed:
            values = values.clone()
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def gather_objects(self, obj: object) -> list:
        if not self.distributed:
            return [obj]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def resolve_device(name: str = "auto") -> torch.device:
    """'auto': CUDA (under torchrun the GPU of this process, LOCAL_RANK), then MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            if "LOCAL_RANK" in os.environ:
                return torch.device("cuda", int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def _cpuinfo(keys: tuple[str, ...]) -> str | None:
    """The first ``/proc/cpuinfo`` line starting with one of ``keys``, after its colon (None off Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(keys):
            return line.split(":", 1)[1].strip()
    return None


def _cpu_flags() -> set[str]:
    return set((_cpuinfo(("flags", "Features")) or "").split())  # x86, Arm


def machine_name(device: torch.device) -> str:
    """What a run ran on, for its results: the GPU's name, or the CPU model and its core count (wall times
    are only comparable on the same kind of machine)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = _cpuinfo(("model name",)) or platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores"


def cpu_bf16_units() -> list[str]:
    """This CPU's bf16 matrix instruction sets as /proc/cpuinfo names them (``amx_bf16``,
    ``avx512_bf16``, Arm ``bf16``); empty where there are none or the flags cannot be read."""
    return sorted({"amx_bf16", "avx512_bf16", "bf16"} & _cpu_flags())


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (x86 AMX-BF16 or AVX512-BF16, Arm BF16), where bf16
    autocast is faster than fp32 (measured on a Xeon with AMX: 1.56× a training step, 2.4× inference; on
    an AMD EPYC with AVX512-BF16 and no AMX: 1.8–2.4× and 1.7×). Without them bf16 is emulated and slower,
    so ``precision: auto`` stays fp32 there."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch.cpu's own CPUID checks (x86)
    if any(getattr(torch.cpu, name, lambda: False)() for name in probes):
        return True
    return bool(cpu_bf16_units())


def resolve_amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """auto: bf16 on GPUs that support it and on CPUs with native bf16 matrix units, else fp32 (emulated
    bf16 autocast is slower than fp32 on other CPUs)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise ValueError("precision fp16 needs a CUDA device (it relies on a gradient scaler)")
        return torch.float16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def local_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """One process and no process group (single-video inference), with the same device and precision
    rules as training and evaluation."""
    dev = resolve_device(device)
    return Runtime(dev, amp_dtype=resolve_amp_dtype(precision, dev))


def setup_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Join the torchrun process group when launched by torchrun (RANK/WORLD_SIZE set)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if world_size > 1:
        if dev.type == "cuda":
            torch.cuda.set_device(local_rank)
            dev = torch.device("cuda", local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        log.info("rank %d/%d on %s", rank, world_size, dev)
    return Runtime(dev, rank, world_size, local_rank, resolve_amp_dtype(precision, dev))


def shutdown(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """All RNG states as tensors and plain values, so ``torch.load(weights_only=True)`` accepts them."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
