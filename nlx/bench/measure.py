"""Timing and peak memory of one callable on CPU or CUDA, and the speed options every benchmark shares.

Timing: wall clock around the call; on CUDA the device is synchronised before the start and CUDA events
bracket the call, so the time is the GPU's. Contenders are run in alternating order (A B, then B A, ...)
so that slow drifts of a shared machine hit each of them alike; the benchmarks report medians and the
ratio of medians measured in the same process.

Peak memory is the high-water mark of live tensor memory allocated during the call, above what was live
when it started (inputs and parameters):

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the allocated bytes
  at the start.
* CPU: torch keeps no such statistic. The profiler with ``profile_memory=True`` records every allocation
  and free of torch's CPU allocator with its size; the running sum of those sizes in time order is the
  live memory of the call, and its maximum is the peak. Memory that bypasses torch's allocator (oneDNN
  scratch buffers, the Python heap) is not counted.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any, Literal

import torch
from torch.profiler import ProfilerActivity
from torch.profiler import profile as torch_profile

from nlx.errors import NlxError

Amp = Literal["off", "bf16", "fp16"]
SdpaBackend = Literal["auto", "math", "flash", "efficient", "cudnn"]
AMP_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
GB = 1024**3
MB = 1024**2


def resolve_device(name: str) -> torch.device:
    """``cpu`` or ``cuda[:i]``; a user error when CUDA is asked for and absent."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NlxError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    if device.type not in ("cpu", "cuda"):
        raise NlxError(f"--device must be cpu or cuda; got {name!r}")
    return device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds taken by ``fn()``, on the GPU's clock for CUDA."""
    if device.type == "cuda":
        synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end)) / 1000.0
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    """Bytes: peak of live tensor memory during ``fn()`` above the memory live when it starts.

    On CPU, memory freed during ``fn()`` that was allocated before it is not subtracted (see :func:`peak_of`);
    callers free what the call would free (gradients) before it, so that CPU and CUDA numbers agree.
    """
    if device.type == "cuda":
        synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - base)
    return cpu_peak_memory(fn)


def cpu_peak_memory(fn: Callable[[], object]) -> int:
    """Peak of the running sum of CPU allocation sizes recorded by the profiler while ``fn()`` runs."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # silence kineto's "no GPU" error lines on CPU machines
    with torch_profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return peak_of(_allocation_events(prof))


def peak_of(events: Sequence[tuple[int, int, int]]) -> int:
    """The maximum of the live bytes allocated during the call: (time, ±bytes, address) events in time order
    (ties in the given order). A free of memory allocated before the call is ignored, so the result does not
    depend on what earlier code left behind; measurements therefore clear gradients before the call."""
    live = peak = 0
    ours: set[int] = set()
    for _, size, ptr in sorted(events, key=lambda e: e[0]):
        if size > 0:
            ours.add(ptr)
        elif ptr in ours:
            ours.discard(ptr)
        else:
            continue
        live += size
        peak = max(peak, live)
    return peak


def _allocation_events(prof: torch_profile) -> list[tuple[int, int, int]]:
    """(start time in ns, signed bytes, address) of every CPU allocation and free the profiler saw, in the
    order of the event tree (which breaks ties of equal timestamps)."""
    from torch._C._profiler import _EventType

    results = prof.profiler.kineto_results if prof.profiler is not None else None
    if results is None:
        raise RuntimeError("the profiler returned no results")
    events: list[tuple[int, int, int]] = []
    stack = list(reversed(results.experimental_event_tree()))
    while stack:  # depth first, in tree order
        node = stack.pop()
        stack.extend(reversed(node.children))
        fields: Any = node.extra_fields  # _ExtraFields_Allocation for allocation events
        if node.tag == _EventType.Allocation and fields.device.type == "cpu":
            events.append((node.start_time_ns, int(fields.alloc_size), int(fields.ptr)))
    return events


def alternate(
    contenders: Mapping[str, Callable[[], object]], repeat: int, device: torch.device
) -> dict[str, list[float]]:
    """Time every contender ``repeat`` times, reversing the order on every other round."""
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeat):
        for name in names if i % 2 == 0 else reversed(names):
            times[name].append(time_call(contenders[name], device))
    return times


def median_or_none(values: Sequence[float]) -> float | None:
    return float(median(values)) if values else None


def available_memory(device: torch.device) -> int:
    """Bytes that a measurement may use: free GPU memory, or MemAvailable of /proc/meminfo."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 8 * GB  # no /proc (macOS): assume a modest machine


def memory_cap(device: torch.device, cap_gb: float | None) -> int:
    """The largest estimated peak a measurement may have: ``cap_gb``, or half of the available memory."""
    if cap_gb is not None:
        if cap_gb <= 0:
            raise NlxError(f"--memory-cap-gb must be positive; got {cap_gb}")
        return int(cap_gb * GB)
    return available_memory(device) // 2


_SDPA_BACKENDS = {
    "math": "MATH",
    "flash": "FLASH_ATTENTION",
    "efficient": "EFFICIENT_ATTENTION",
    "cudnn": "CUDNN_ATTENTION",
}


@contextlib.contextmanager
def speed_context(device: torch.device, amp: Amp = "off", sdpa: SdpaBackend = "auto") -> Iterator[None]:
    """Autocast to ``amp``; restrict scaled-dot-product attention to one backend (``auto``: torch picks)."""
    with contextlib.ExitStack() as stack:
        if amp != "off":
            stack.enter_context(torch.autocast(device.type, dtype=AMP_DTYPES[amp]))
        if sdpa != "auto":
            from torch.nn.attention import SDPBackend, sdpa_kernel

            stack.enter_context(sdpa_kernel([getattr(SDPBackend, _SDPA_BACKENDS[sdpa])]))
        yield


def check_options(device: torch.device, amp: Amp, sdpa: SdpaBackend) -> None:
    """Reject option combinations that cannot run, before any model is built."""
    if amp not in ("off", *AMP_DTYPES):
        raise NlxError(f"--amp must be off, bf16 or fp16; got {amp!r}")
    if sdpa not in ("auto", *_SDPA_BACKENDS):
        raise NlxError(f"--sdpa must be auto, {', '.join(_SDPA_BACKENDS)}; got {sdpa!r}")
    if device.type == "cpu" and sdpa in ("efficient", "cudnn"):
        raise NlxError(f"--sdpa {sdpa} is a CUDA kernel; on CPU use auto, math or flash")


@dataclass(frozen=True)
class SpeedOptions:
    """The options that change how fast a model runs, not what it computes (except ``amp``)."""

    amp: Amp = "off"
    channels_last: bool = False
    compile: bool = False
    sdpa: SdpaBackend = "auto"

    def as_dict(self) -> dict[str, object]:
        return {
            "amp": self.amp,
            "channels_last": self.channels_last,
            "compile": self.compile,
            "sdpa": self.sdpa,
        }


def machine(device: torch.device) -> dict[str, object]:
    """What the numbers were measured on."""
    import platform

    info: dict[str, object] = {
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu": _cpu_model(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine()
