"""Per-epoch checkpoints, so a long run interrupted at epoch 20 of 25 resumes at epoch 21.

A checkpoint holds everything the next epoch depends on — model, optimizer and scheduler states,
the batch-order generator and the global RNG states, and the history so far — so a resumed run
produces the same numbers, bit for bit on CPU, as one that was never interrupted.

Checkpoints live at ``<results_dir>/checkpoints/<run_id>.pt``, are written atomically (a
``kill -9`` leaves the previous one intact) and are read only with
``torch.load(..., weights_only=True)``, which refuses to run code hidden in a file. A checkpoint
that is unreadable or belongs to another config is ignored: it only ever saves time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .atomic_files import write_atomic

CHECKPOINTS_SUBDIR = "checkpoints"
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class Resumed:
    """Where a run picks up: the first epoch still to train and the wall time already spent."""

    first_epoch: int = 1
    wall_time_s: float = 0.0


def checkpoint_path(results_dir: str | Path, run_id: str) -> Path:
    return Path(results_dir) / CHECKPOINTS_SUBDIR / f"{run_id}.pt"


def save_checkpoint(path: Path, run_id: str, epoch: int, model: torch.nn.Module, optimizer, scheduler,
                    shuffle_generator: torch.Generator, history: dict, wall_time_s: float) -> None:
    """Atomically store the state after ``epoch`` (1-based) of run ``run_id``."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "run_id": run_id,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "shuffle_rng": shuffle_generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "history": history,
        "wall_time_s": float(wall_time_s),
    }
    write_atomic(path, lambda handle: torch.save(state, handle))


def load_checkpoint(path: Path) -> dict:
    """The stored state, loaded without unpickling arbitrary objects (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def restore_checkpoint(path: Path, run_id: str, epochs: int, model: torch.nn.Module, optimizer, scheduler,
                       shuffle_generator: torch.Generator, history: dict) -> Resumed:
    """Load ``path`` into the given objects (and ``history``) if it is a usable checkpoint of ``run_id``.

    Returns where to resume; ``Resumed()`` (start from epoch 1) when there is no usable checkpoint.
    """
    if not path.is_file():
        return Resumed()
    try:  # nothing is modified until the file has been read and looks right
        state = load_checkpoint(path)
        if not (isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT and state.get("run_id") == run_id
                and isinstance(state.get("epoch"), int) and 1 <= state["epoch"] < epochs
                and isinstance(state.get("history"), dict)):
            raise ValueError("not a checkpoint of this run")
    except Exception as error:
        warnings.warn(f"ignoring checkpoint {path} ({type(error).__name__}: {error}); training from epoch 1",
                      stacklevel=2)
        return Resumed()
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        shuffle_generator.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    except (KeyError, RuntimeError, ValueError) as error:
        # Half-applied state cannot be undone here, and training on it would be silently wrong.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RuntimeError(f"checkpoint {path} does not fit this run ({first_line}); "
                           f"delete it to train the run from epoch 1") from None
    history.clear()
    history.update(state["history"])
    return Resumed(first_epoch=state["epoch"] + 1, wall_time_s=float(state["wall_time_s"]))
