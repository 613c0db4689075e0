"""lossdemo's training against the pipeline a tutorial reader would write, on the same comparison.

    python benchmarks/vs_tutorial_pipeline.py [--epochs 3] [--repeats 2] [--loader-workers 0]

Both pipelines train the report's comparison on ``mnist5k`` — the five losses of
``reproduce``'s ``compare`` experiment, one seed, ``--epochs`` epochs each — with the same
network, recipe and per-epoch measurements (loss, accuracy and cross-entropy on the full train and
test sets, per-class test accuracy), at the same number of threads. They differ only in how the
work is fed to the network:

* the **tutorial pipeline** (as in PyTorch's "Training a classifier" tutorial): a
  ``torchvision``-style ``Dataset`` of uint8 images turned into PIL images and passed through
  ``transforms.ToTensor()`` and ``transforms.Normalize`` one sample at a time, a shuffling
  ``DataLoader``, NCHW tensors, and evaluation one ``DataLoader`` batch at a time with
  ``.item()`` per batch;
* **lossdemo** (:func:`lossdemo.train.train_run`): the normalised dataset resident as one tensor,
  batches by indexing, channels-last layout, evaluation in large chunks with one host copy per epoch.

Each loss is run by both pipelines in alternation, ``--repeats`` times; the end-to-end time of the
comparison (model construction, data pipeline and all epochs) is the sum over losses of the
median time per loss. The goal is lossdemo ≥ 2× faster.
"""

from __future__ import annotations

import argparse
import math

import _common
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms

from lossdemo.data import load_dataset
from lossdemo.devices import CPU_THREADS_PER_RUN, cpu_threads
from lossdemo.experiments import REPORT_LOSSES
from lossdemo.losses import get_loss
from lossdemo.models import build_model
from lossdemo.train import RunConfig, train_run

GOAL_SPEEDUP = 2.0


def recover_uint8_images(x: torch.Tensor) -> tuple[np.ndarray, float, float]:
    """The raw 0..255 digits behind lossdemo's standardised mnist5k, and their mean and std.

    lossdemo stores (u - mean) / std; the darkest pixel is 0 and the brightest 255 in the train
    split, which pins down mean and std, so the tutorial pipeline can start from the raw digits.
    """
    low, high = float(x.min()), float(x.max())
    std = 255.0 / (high - low)
    mean = -low * std
    raw = x.double() * std + mean
    images = raw.round()
    if float((raw - images).abs().max()) > 1e-3:
        raise ValueError("mnist5k is not standardised 0..255 digits; cannot recover them")
    return images.clamp(0, 255).to(torch.uint8).squeeze(1).numpy(), mean, std


class DigitsDataset(torch.utils.data.Dataset):
    """The way ``torchvision.datasets.MNIST`` serves samples: a PIL image through a transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index], mode="L")
        return self.transform(image), int(self.labels[index])


def tutorial_run(config: RunConfig, raw: dict, loader_workers: int) -> dict:
    """One run the tutorial way; returns the same history keys ``train_run`` records (minus calibration)."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((raw["mean"] / 255,), (raw["std"] / 255,))])
    train_set = DigitsDataset(raw["x_train"], raw["y_train"], transform)
    test_set = DigitsDataset(raw["x_test"], raw["y_test"], transform)
    torch.manual_seed(config.seed)
    model = build_model(config.model, (1, 28, 28), 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    steps = len(train_set) // config.batch_size
    total_steps = steps * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    loss_fn = get_loss(config.loss)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, drop_last=True,
                              num_workers=loader_workers, generator=torch.Generator().manual_seed(config.seed))
    train_eval_loader = DataLoader(train_set, batch_size=config.batch_size, num_workers=loader_workers)
    test_loader = DataLoader(test_set, batch_size=config.batch_size, num_workers=loader_workers)

    def evaluate(loader) -> dict:
        model.eval()
        total_loss = total_ce = correct = seen = 0.0
        class_correct, class_seen = [0] * 10, [0] * 10
        with torch.no_grad():
            for images, labels in loader:
                logits = model(images)
                total_loss += loss_fn(logits, labels).item() * len(labels)
                total_ce += F.cross_entropy(logits, labels).item() * len(labels)
                hits = logits.argmax(1) == labels
                correct += hits.sum().item()
                seen += len(labels)
                for label, hit in zip(labels.tolist(), hits.tolist()):
                    class_seen[label] += 1
                    class_correct[label] += hit
        return {"loss": total_loss / seen, "accuracy": correct / seen, "ce": total_ce / seen,
                "per_class": [c / max(n, 1) for c, n in zip(class_correct, class_seen)]}

    history: dict[str, list] = {}
    for _ in range(config.epochs):
        model.train()
        for images, labels in train_loader:
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        train, test = evaluate(train_eval_loader), evaluate(test_loader)
        for key, value in (("train_loss", train["loss"]), ("test_loss", test["loss"]), ("train_accuracy", train["accuracy"]),
                           ("test_accuracy", test["accuracy"]), ("train_ce", train["ce"]), ("test_ce", test["ce"]),
                           ("test_per_class_accuracy", test["per_class"])):
            history.setdefault(key, []).append(value)
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds per loss (default 2)")
    parser.add_argument("--threads", type=int, default=CPU_THREADS_PER_RUN, help="threads for both pipelines")
    parser.add_argument("--loader-workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    args = parser.parse_args()
    info = _common.machine_info()
    _common.print_header("end to end: lossdemo vs the tutorial pipeline (mnist5k comparison)", info)
    dataset = load_dataset("mnist5k")
    x_train, mean, std = recover_uint8_images(dataset.x_train)
    x_test, _, _ = recover_uint8_images(dataset.x_test)
    raw = {"x_train": x_train, "y_train": dataset.y_train.numpy(), "x_test": x_test, "y_test": dataset.y_test.numpy(),
           "mean": mean, "std": std}
    configs = [RunConfig(dataset="mnist5k", loss=loss, epochs=args.epochs) for loss in REPORT_LOSSES]
    per_loss: dict[str, dict[str, list[float]]] = {}
    accuracy = {"lossdemo": [], "tutorial": []}
    with cpu_threads(args.threads):
        for config in configs:
            def ours(config=config):
                outcome = train_run(config, load_dataset("mnist5k"), threads=args.threads)
                accuracy["lossdemo"].append(outcome.history["test_accuracy"][-1])

            def theirs(config=config):
                accuracy["tutorial"].append(tutorial_run(config, raw, args.loader_workers)["test_accuracy"][-1])

            per_loss[config.loss] = _common.interleaved({"lossdemo": ours, "tutorial": theirs}, args.repeats, warmup=False)
            print(f"   {config.loss}: lossdemo {_common.median(per_loss[config.loss]['lossdemo']):.2f} s, "
                  f"tutorial {_common.median(per_loss[config.loss]['tutorial']):.2f} s", flush=True)
    ours_s = sum(_common.median(times["lossdemo"]) for times in per_loss.values())
    theirs_s = sum(_common.median(times["tutorial"]) for times in per_loss.values())
    speedup = theirs_s / ours_s
    rows = [
        _common.row(f"comparison: {len(configs)} losses × 1 seed × {args.epochs} epochs on mnist5k, lossdemo",
                    f"{ours_s:.1f} s"),
        _common.row("same comparison, tutorial pipeline (PIL + ToTensor per sample, DataLoader, per-batch evaluation)",
                    f"{theirs_s:.1f} s"),
        _common.row("lossdemo speed-up", f"{speedup:.2f}×", f"≥ {GOAL_SPEEDUP}×", speedup >= GOAL_SPEEDUP),
        _common.row("mean final test accuracy, lossdemo / tutorial (same recipe; a sanity check)",
                    f"{np.mean(accuracy['lossdemo']):.3f} / {np.mean(accuracy['tutorial']):.3f}"),
    ]
    _common.print_rows(rows)
    path = _common.write_results("vs_tutorial_pipeline", {
        "title": "End to end against the tutorial pipeline (goal 2)",
        "machine": info, "threads": args.threads, "epochs": args.epochs, "repeats": args.repeats,
        "loader_workers": args.loader_workers, "seconds_per_loss": per_loss, "speedup": speedup,
        "goal_speedup": GOAL_SPEEDUP, "rows": rows,
        "note": "Both pipelines at the same thread count, the tutorial's DataLoader with "
                f"{args.loader_workers} worker processes (on a 2-core machine, extra loader processes compete with training).",
    })
    print(f"   wrote {path.relative_to(_common.REPO)} and {_common.SUMMARY_PATH.relative_to(_common.REPO)}")


if __name__ == "__main__":
    main()
