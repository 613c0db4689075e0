"""How a training step is computed, never what: speed only, equivalence-tested. A reader may skip it.

The training loop (:mod:`lossdemo.train`), the losses (:mod:`lossdemo.losses`) and the metrics
(:mod:`lossdemo.metrics`) are plain PyTorch and define every number a run records. An engine
computes them for K runs at once:

* ``reference`` — each run an ``nn.Module`` with ``torch.optim``, nothing else
  (:class:`~lossdemo.engines.modules.ModuleEngine`); the definition the fast engine is tested against;
* ``fast`` — the same numbers up to the order of float additions, sooner: ``cnn1d`` stacks as
  batched matrix products with a hand-written backward on a CPU
  (:mod:`~lossdemo.engines.cnn1d_gemm`, :class:`~lossdemo.engines.stacks.StackEngine`), other
  stacks through ``vmap``, single runs with a fused convolution + ReLU and cache-sized
  micro-batches (:mod:`~lossdemo.engines.cpu`), softmaxes along the transposed logits
  (:mod:`~lossdemo.engines.row_softmax`), denormals flushed, and cuDNN's autotuner on a GPU;
* ``auto`` — ``fast`` on a CPU or a CUDA GPU, where its paths are tested; ``reference`` elsewhere.

Every private PyTorch operator the project uses lives in this package, each with a public fallback
that a test compares it with (``tests/test_engines.py``). ``tests/test_engines.py`` also trains
every model a few epochs on both engines and checks that they agree within a stated tolerance;
``benchmarks/engines.py`` prints the fast engine's speed-up per model.
"""

from __future__ import annotations

import contextlib

import torch

from ..devices import cpu_threads
from .base import SPLITS, Engine, StackSpec
from .cpu import flush_denormals, stack_size_for
from .modules import ModuleEngine
from .stacks import PER_RUN_FIELDS, StackEngine, plan_stacks, stack_key

ENGINES = ("auto", "fast", "reference")

__all__ = ["ENGINES", "PER_RUN_FIELDS", "SPLITS", "Engine", "StackSpec", "build_engine", "default_stack_size",
           "engine_settings", "plan_stacks", "resolve_engine", "stack_key"]


def resolve_engine(name: str, device: torch.device | str) -> str:
    """``fast`` or ``reference`` for ``name`` (one of :data:`ENGINES`) on ``device``."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; allowed: {', '.join(ENGINES)}")
    if name == "auto":
        return "fast" if torch.device(device).type in ("cpu", "cuda") else "reference"
    return name


def build_engine(name: str, spec: StackSpec, stacked: bool) -> Engine:
    """The engine ``name`` (resolved by :func:`resolve_engine`) computing the runs of ``spec``.

    ``stacked`` runs the fast engine's runs as one stacked model, even a single one (so a run
    computes the same numbers whichever runs share its stack); several runs are always stacked
    there. The reference engine runs each as a module.
    """
    if resolve_engine(name, spec.device) == "reference":
        return ModuleEngine(spec, fast=False)
    if stacked or len(spec.configs) > 1:
        return StackEngine(spec)
    return ModuleEngine(spec, fast=True)


def default_stack_size(name: str, model_name: str, device: torch.device | str) -> int:
    """Runs of ``model_name`` the runner trains together on ``device`` unless told otherwise."""
    return stack_size_for(model_name, device) if resolve_engine(name, device) == "fast" else 1


@contextlib.contextmanager
def engine_settings(name: str, device: torch.device, threads: int | None):
    """The process settings a run trains under, restored afterwards: ``threads`` intra-op CPU threads
    for every engine; denormals flushed on a CPU and cuDNN's autotuner on a GPU for the fast one."""
    fast = resolve_engine(name, device) == "fast"
    with contextlib.ExitStack() as settings:
        if device.type == "cpu":
            settings.enter_context(cpu_threads(threads))
            if fast:
                settings.enter_context(flush_denormals())
        elif device.type == "cuda" and fast:
            previous = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True  # a run's shapes never change, so it tunes once
            settings.callback(setattr, torch.backends.cudnn, "benchmark", previous)
        yield
