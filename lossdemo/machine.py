"""The machine a run was computed on: the CPU model, the instruction set torch's CPU kernels use,
the MKL and oneDNN versions, and the CUDA device's name when the run trained on one.

Runs on two machines that differ in any of these differ in their last bits (another instruction
set or library version sums in another order), and the chaotic losses grow those bits into other
curves within a few epochs. Each stored run names its machine, so that a reader whose numbers
differ from the published ones can tell whether the machines did too.

Everything but the CUDA device is the same for every run of a process, so it is read once.
"""

from __future__ import annotations

import functools
import platform
import re
import subprocess
import sys
from pathlib import Path

import torch

# The keys of a run's ``metadata["machine"]`` and whether each may be null: a build without MKL or
# oneDNN has no version to name, and a run on the CPU has no CUDA device.
MACHINE_FIELDS = {"cpu_model": False, "cpu_capability": False, "mkl_version": True, "onednn_version": True,
                  "cuda_device": True}
UNKNOWN = "unknown"

_MKL_VERSION = re.compile(r"Math Kernel Library Version (\d+(?:\.\d+)*)")
_ONEDNN_VERSION = re.compile(r"(?:MKL-DNN|oneDNN) v(\d+(?:\.\d+)*)")
_CAPABILITY = re.compile(r"CPU capability usage: (\S+)")
_CPUINFO_MODEL = re.compile(r"^(?:model name|Model|Hardware|Processor)[ \t]*:[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)


def library_versions(build_config: str) -> tuple[str | None, str | None]:
    """(MKL version, oneDNN version) as ``torch.__config__.show()`` prints them; None for a library
    the build lacks. Parsed from that text because torch has no public function that returns them."""
    mkl, onednn = _MKL_VERSION.search(build_config), _ONEDNN_VERSION.search(build_config)
    return (mkl.group(1) if mkl else None), (onednn.group(1) if onednn else None)


def capability_from_build_config(build_config: str) -> str | None:
    """The "CPU capability usage" line of ``torch.__config__.show()``: the fallback for a torch
    without ``torch.backends.cpu.get_cpu_capability``."""
    match = _CAPABILITY.search(build_config)
    return match.group(1) if match else None


def cpu_model_from_cpuinfo(cpuinfo: str) -> str | None:
    """The processor's name in Linux's /proc/cpuinfo: ``model name`` on x86, ``Model`` or ``Hardware``
    on some ARM boards; None when it names none (many ARM kernels list only part numbers)."""
    match = _CPUINFO_MODEL.search(cpuinfo)
    return match.group(1) if match and match.group(1) else None


def _cpu_model() -> str:
    """The CPU's marketing name: /proc/cpuinfo on Linux, sysctl on macOS, else what ``platform``
    knows (on Windows a family/model string), else the architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        try:
            model = cpu_model_from_cpuinfo(cpuinfo.read_text(errors="replace"))
        except OSError:
            model = None
        if model:
            return model
    if sys.platform == "darwin":
        try:
            brand = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                   timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            brand = ""
        if brand:
            return brand
    return platform.processor() or platform.machine() or UNKNOWN


def _cpu_capability(build_config: str) -> str:
    """The instruction set torch dispatches its CPU kernels to on this machine (e.g. AVX2, AVX512,
    or DEFAULT), which ``ATEN_CPU_CAPABILITY`` can lower: what actually ran, not what the CPU offers."""
    get_capability = getattr(torch.backends.cpu, "get_cpu_capability", None)
    if get_capability is not None:
        return str(get_capability())
    return capability_from_build_config(build_config) or UNKNOWN


@functools.cache
def cpu_machine() -> dict[str, str | None]:
    """The CPU side of the machine record, read once per process (a few milliseconds, and it cannot
    change while the process runs)."""
    build_config = torch.__config__.show()
    mkl, onednn = library_versions(build_config)
    return {"cpu_model": _cpu_model(), "cpu_capability": _cpu_capability(build_config),
            "mkl_version": mkl if torch.backends.mkl.is_available() else None,
            "onednn_version": onednn if torch.backends.mkldnn.is_available() else None}


@functools.cache
def cuda_device_name(device: str) -> str | None:
    """The GPU's name for a run on ``cuda`` / ``cuda:N``; None on any other device."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(torch.device(device))


def machine_record(device: str) -> dict[str, str | None]:
    """What ``metadata["machine"]`` of a run trained on ``device`` holds (keys: ``MACHINE_FIELDS``)."""
    return {**cpu_machine(), "cuda_device": cuda_device_name(device)}


def machine_problem(machine: object) -> str | None:
    """Why ``machine`` is not a valid ``metadata["machine"]``, in one line, or None when it is."""
    if not isinstance(machine, dict):
        return f"must be a JSON object, got {type(machine).__name__}"
    missing = [key for key in MACHINE_FIELDS if key not in machine]
    unknown = sorted(set(machine) - set(MACHINE_FIELDS))
    if missing:
        return f"lacks {missing}; it holds exactly {list(MACHINE_FIELDS)}"
    if unknown:
        return f"has unknown key(s) {unknown}; allowed: {list(MACHINE_FIELDS)}"
    for key, nullable in MACHINE_FIELDS.items():
        value = machine[key]
        if not (isinstance(value, str) and value.strip()) and not (nullable and value is None):
            allowed = "a non-empty string or null" if nullable else "a non-empty string"
            return f"{key} is {value!r}; allowed: {allowed}"
    return None
