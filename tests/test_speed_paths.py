"""The fast paths compute what the plain ones do: stacked runs, one-sync metrics, layouts, threads,
worker processes and shards. Correctness only; speed is measured in ``benchmarks/``, not here.

Run: pytest tests/test_speed_paths.py -q
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from support import (
    BATCH_NORM_RTOL,
    HISTORY_RTOL,
    assert_histories_close,
    assert_same_numbers,
    lock_held_by_an_interrupted_process,
    tiny_dataset,
)

import lossdemo.engines.cpu as cpu_speed
import lossdemo.engines.modules as modules_engine
import lossdemo.train as train_module
from lossdemo.data import Dataset
from lossdemo.devices import cpu_threads, resolve_precision
from lossdemo.engines import PER_RUN_FIELDS, cnn1d_gemm, plan_stacks, stack_key
from lossdemo.engines.optimizers import StackedAdam, StackedSGD
from lossdemo.epoch_record import EpochLayout
from lossdemo.losses import get_loss
from lossdemo.models import build_model, cnn1d, memory_format_for
from lossdemo.reproduce import plan_for_flags
from lossdemo.results import load_runs
from lossdemo.runner import Unit, execute, longest_first, shard, work_units
from lossdemo.train import RunConfig, train_run, train_runs


def tiny_images(size: int = 8, channels: int = 1, name: str = "tiny-images") -> Dataset:
    """Random 8×8 images with learnable labels (the class shifts the mean): a cnn2d/resnet epoch in milliseconds."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (192,), generator=generator)
    images = torch.randn(192, channels, size, size, generator=generator) + labels.view(-1, 1, 1, 1).float()
    return Dataset(name, images[:128], labels[:128], images[128:], labels[128:], 4, ("a", "b", "c", "d"))


# ----------------------------------------------------------------------------- stacked runs

def test_stacked_runs_match_single_runs_on_cnn1d_with_different_losses_seeds_and_noise():
    dataset = tiny_dataset()
    configs = [RunConfig(loss="ce", seed=0, epochs=2, batch_size=64),
               RunConfig(loss="mae", seed=1, epochs=2, batch_size=64),
               RunConfig(loss="focal:2", seed=0, epochs=2, batch_size=64, label_noise=0.3),
               RunConfig(loss="cb-ce", seed=2, epochs=2, batch_size=64)]
    singles = [train_run(config, dataset) for config in configs]
    stacked = train_runs(configs, dataset)
    assert [outcome.config for outcome in stacked] == configs
    for single, together in zip(singles, stacked):
        assert together.status == single.status == "complete"
        assert_histories_close(single.history, together.history, len(dataset.y_test))


@pytest.mark.slow
@pytest.mark.parametrize("model, channels", [("cnn2d-stem", 1), ("cnn2d", 1), ("resnet", 3)])
def test_stacked_runs_match_single_runs_on_image_models_including_batch_norm(model, channels):
    dataset = tiny_images(channels=channels)
    configs = [RunConfig(dataset=dataset.name, model=model, loss=loss, seed=seed, epochs=2, batch_size=32, lr=0.02)
               for loss, seed in (("ce", 0), ("focal:2", 1))]
    singles = [train_run(config, dataset) for config in configs]
    for single, together in zip(singles, train_runs(configs, dataset)):
        assert_histories_close(single.history, together.history, len(dataset.y_test),
                               rtol=BATCH_NORM_RTOL if model == "resnet" else HISTORY_RTOL)


@pytest.mark.slow
def test_stacked_resnet_under_bf16_autocast_trains_like_single_bf16_runs():
    """The GPU default (bf16 autocast, batch norm, vmap) exercised on the CPU: same losses to bf16 accuracy."""
    dataset = tiny_images(channels=3)
    configs = [RunConfig(dataset=dataset.name, model="resnet", loss=loss, seed=seed, epochs=1, batch_size=32, lr=0.02)
               for loss, seed in (("ce", 0), ("focal:2", 1))]
    stacked = train_runs(configs, dataset, precision="bf16")
    for config, together in zip(configs, stacked):
        single = train_run(config, dataset, precision="bf16")
        assert together.precision == single.precision == "bf16" and together.status == "complete"
        # bf16 keeps 8 bits of mantissa: a few per cent, not the float32 tolerance above.
        assert together.history["train_loss"][0] == pytest.approx(single.history["train_loss"][0], rel=0.05)
        assert abs(together.history["test_accuracy"][0] - single.history["test_accuracy"][0]) <= 0.1


def test_stacked_runs_with_imbalance_use_each_runs_own_subset():
    dataset = tiny_dataset()
    configs = [RunConfig(loss=loss, seed=seed, epochs=1, batch_size=32, imbalance_ratio=4.0)
               for loss, seed in (("cb-ce", 0), ("ce", 1))]
    for single, together in zip([train_run(c, dataset) for c in configs], train_runs(configs, dataset)):
        assert_histories_close(single.history, together.history, len(dataset.y_test))


def test_a_diverging_run_stops_alone_and_leaves_the_others_untouched(monkeypatch):
    """NaNs stay inside their own slice of the stack: the other runs match their single runs."""
    real_get_loss = get_loss

    def get_loss_with_a_poisoned_mae(spec, class_counts=None):
        loss_fn = real_get_loss(spec, class_counts)
        if spec != "mae":
            return loss_fn
        return lambda logits, targets, **options: loss_fn(logits, targets, **options) * math.nan

    monkeypatch.setattr(train_module, "get_loss", get_loss_with_a_poisoned_mae)
    dataset = tiny_dataset()
    configs = [RunConfig(loss=loss, seed=0, epochs=2, batch_size=64) for loss in ("ce", "mae", "focal:2")]
    singles = [train_run(config, dataset) for config in configs]
    stacked = train_runs(configs, dataset)
    assert [o.status for o in stacked] == [o.status for o in singles] == ["complete", "diverged", "complete"]
    assert stacked[1].diverged_epoch == singles[1].diverged_epoch == 1
    for index in (0, 2):
        assert_histories_close(singles[index].history, stacked[index].history, len(dataset.y_test))


@pytest.mark.slow
def test_execute_with_stack_stores_what_one_run_at_a_time_stores(tmp_path):
    """``--stack`` end to end below the CLI: stacks form by recipe, every run is stored once, numbers match."""
    dataset = tiny_dataset()
    configs = [RunConfig(loss=loss, seed=seed, epochs=2, batch_size=64, label_noise=noise)
               for loss in ("ce", "focal:2") for seed in (0, 1) for noise in (0.0, 0.2)]
    configs.append(RunConfig(loss="ce", epochs=3, batch_size=64))  # another recipe: a stack of its own
    stacked_summary = execute(configs, tmp_path / "stacked", datasets={"mnist1d": dataset}, stack=3)
    serial_summary = execute(configs, tmp_path / "serial", datasets={"mnist1d": dataset})
    assert sorted(stacked_summary.trained) == sorted(serial_summary.trained) == sorted(c.run_id for c in configs)
    stacked_runs, problems = load_runs(tmp_path / "stacked")
    serial_runs, _ = load_runs(tmp_path / "serial")
    assert problems == [] and stacked_runs.keys() == serial_runs.keys()
    # 8 runs of one recipe in stacks of at most 3 (3 + 3 + 2), and the odd recipe alone.
    sizes = sorted(run.record["metadata"]["stacked_runs"] for run in stacked_runs.values())
    assert sizes == [1, 2, 2, 3, 3, 3, 3, 3, 3]
    assert {run.record["metadata"]["stacked_runs"] for run in serial_runs.values()} == {1}
    for run_id, run in serial_runs.items():
        assert_histories_close(run.record["history"], stacked_runs[run_id].record["history"], len(dataset.y_test))
    again = execute(configs, tmp_path / "stacked", datasets={"mnist1d": dataset}, stack=3)
    assert again.trained == [] and len(again.reused) == len(configs)


def test_a_stack_leaves_a_run_locked_elsewhere_to_its_holder_and_trains_it_when_the_holder_gives_up(tmp_path):
    """Another process holds seed 1's lock and is then interrupted without storing it: the stack trains
    seeds 0 and 2 together, then waits for the lock and trains seed 1 alone."""
    dataset = tiny_dataset()
    configs = [RunConfig(loss="ce", seed=seed, epochs=1, batch_size=64) for seed in range(3)]
    progress = []
    with lock_held_by_an_interrupted_process(tmp_path, configs[1].run_id, release_after_s=1.0):
        summary = execute(configs, tmp_path, datasets={"mnist1d": dataset}, stack=3,
                          on_epoch=lambda config, epoch: progress.append(config.run_id))
    assert summary.trained == [configs[0].run_id, configs[2].run_id, configs[1].run_id]
    runs, _ = load_runs(tmp_path)
    assert [runs[c.run_id].record["metadata"]["stacked_runs"] for c in configs] == [2, 1, 2]
    assert sorted(progress) == sorted(c.run_id for c in configs), "stacked runs report their epochs too"


def test_train_stacked_rejects_configs_that_cannot_share_a_stack():
    with pytest.raises(ValueError, match="differ in more than"):
        train_runs([RunConfig(epochs=1), RunConfig(epochs=2)], tiny_dataset())
    with pytest.raises(ValueError, match="twice"):
        train_runs([RunConfig(epochs=1), RunConfig(epochs=1)], tiny_dataset())
    with pytest.raises(ValueError, match="max_runs"):
        plan_stacks([RunConfig()], 0)


@pytest.mark.parametrize("shared_input", [False, True])
@pytest.mark.parametrize("geometry", ["cnn1d", "other", "strided"])
def test_cnn1d_gemm_gives_the_values_and_gradients_of_the_module_layers(geometry, shared_input):
    """Forward and hand-written backward against nn.Conv1d and autograd, for the default network and
    for other kernels, strides, paddings and channel counts (including windows that skip samples)."""
    if geometry == "cnn1d":
        shape, build = (1, 40), lambda: cnn1d(1, 10)
    elif geometry == "strided":  # a stride above the kernel (positions no tap reads), padding above 1
        shape = (2, 19)
        build = lambda: torch.nn.Sequential(  # noqa: E731
            torch.nn.Conv1d(2, 4, 3, stride=1, padding=2), torch.nn.ReLU(),
            torch.nn.Conv1d(4, 3, 2, stride=3, padding=2), torch.nn.ReLU(),
            torch.nn.Conv1d(3, 2, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Flatten(), torch.nn.LazyLinear(5))
    else:
        shape = (2, 17)
        build = lambda: torch.nn.Sequential(  # noqa: E731
            torch.nn.Conv1d(2, 4, 4, stride=1, padding=2), torch.nn.ReLU(),
            torch.nn.Conv1d(4, 3, 3, stride=3, padding=0), torch.nn.ReLU(),
            torch.nn.Flatten(), torch.nn.LazyLinear(5))
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = build()
        model(torch.zeros(1, *shape))  # builds a lazy layer
        models.append(model)
    layout = cnn1d_gemm.layout_of(models[0], shape)
    assert layout is not None and layout.width == sum(p.numel() for p in models[0].parameters())
    flat = cnn1d_gemm.flat_parameters(models).requires_grad_()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, *shape, generator=generator) if shared_input else torch.randn(3, 6, *shape, generator=generator)
    targets = torch.randint(0, models[0][-1].out_features, (3, 6), generator=generator)
    logits = cnn1d_gemm.stack_forward(layout, flat, x)
    sum(torch.nn.functional.cross_entropy(logits[k], targets[k]) for k in range(3)).backward()
    for k, model in enumerate(models):
        inputs = x if shared_input else x[k]
        expected = model(inputs)
        gradients = torch.autograd.grad(torch.nn.functional.cross_entropy(expected, targets[k]), list(model.parameters()))
        torch.testing.assert_close(logits[k], expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(flat.grad[k], torch.cat([g.reshape(-1) for g in gradients]), rtol=1e-4, atol=1e-6)


def test_cnn1d_gemm_takes_only_the_networks_it_computes_exactly():
    plain = build_model("cnn1d", (1, 40), 10)
    assert cnn1d_gemm.supports(plain, (1, 40), torch.device("cpu"))
    assert not cnn1d_gemm.supports(plain, (1, 40), torch.device("meta"))
    assert cnn1d_gemm.layout_of(plain, (1, 40, 1)) is None  # not a 1-D signal
    others = [
        torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, bias=False), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(76, 3)),
        torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, dilation=2), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(72, 3)),
        torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(76, 3)),
        torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.BatchNorm1d(2), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(76, 3)),
    ]
    assert [cnn1d_gemm.layout_of(model, (1, 40)) for model in others] == [None] * len(others)


def test_stacked_sgd_updates_each_run_like_torch_sgd_at_its_own_learning_rate():
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(3, 7, generator=generator)
    gradients = [torch.randn(3, 7, generator=generator) for _ in range(4)]
    lrs, factors = [0.1, 0.4, 0.025], [1.0, 0.9, 0.5, 0.1]
    stacked = start.clone().requires_grad_()
    optimizer = StackedSGD([stacked], lrs, momentum=0.9, weight_decay=5e-4)
    for gradient, factor in zip(gradients, factors):
        stacked.grad = gradient.clone()
        optimizer.step(factor)
    for k, lr in enumerate(lrs):
        single = start[k].clone().requires_grad_()
        reference = torch.optim.SGD([single], lr=lr, momentum=0.9, weight_decay=5e-4)
        for gradient, factor in zip(gradients, factors):
            single.grad = gradient[k].clone()
            reference.param_groups[0]["lr"] = lr * factor
            reference.step()
        torch.testing.assert_close(stacked.detach()[k], single.detach(), rtol=1e-6, atol=1e-7)


def test_a_stacked_run_computes_the_same_numbers_whichever_runs_share_its_stack():
    """Shards and interrupted plans form other stacks than a serial run: a run must not notice beyond
    float rounding (a stack's size moves which samples fall in a vectorised loop's remainder, and its
    memory layout MKL's last bits; like any reordering of additions, that grows a little each step)."""
    dataset = tiny_dataset()
    a, b, c = (RunConfig(loss=loss, seed=seed, epochs=2, batch_size=64, lr=lr, validation_fraction=0.2)
               for loss, seed, lr in (("ce", 0, 0.1), ("ce", 1, 0.05), ("focal:2", 2, 0.2)))
    together, reordered, alone = train_runs([a, b, c], dataset), train_runs([c, a], dataset), train_runs([a], dataset)
    test_samples = len(dataset.y_test)
    assert_histories_close(together[0].history, reordered[1].history, test_samples)
    assert_histories_close(together[0].history, alone[0].history, test_samples)
    assert_histories_close(together[2].history, reordered[0].history, test_samples)
    assert {outcome.compute_path for outcome in together} == {"cnn1d-gemm"}


def test_by_default_cnn1d_runs_stack_on_a_cpu_and_other_models_train_alone(tmp_path):
    mnist1d = tiny_dataset()
    images = tiny_images()
    configs = [RunConfig(loss=loss, seed=seed, lr=lr) for loss, lr in (("ce", 0.1), ("mae", 0.4)) for seed in range(5)]
    configs += [RunConfig(dataset=images.name, seed=seed) for seed in range(2)]
    datasets = {"mnist1d": mnist1d, images.name: images}
    units = work_units(configs, datasets, "cpu", None)
    stacked = [unit.runs for unit in units if unit.stacked]
    stacks = -(-10 // cpu_speed.CPU_STACK_SIZE)
    assert sorted(len(unit) for unit in stacked) == sorted(10 // stacks + (k < 10 % stacks) for k in range(stacks))
    assert [unit.runs for unit in units if not unit.stacked] == [(config,) for config in configs[10:]]
    assert all(not unit.stacked for unit in work_units(configs, datasets, "cpu", 1))
    assert all(not unit.stacked for unit in work_units(configs, datasets, "cpu", None, engine="reference"))


config_strategy = st.builds(
    RunConfig,
    loss=st.sampled_from(["ce", "mae", "focal:2"]),
    seed=st.integers(0, 3),
    epochs=st.sampled_from([1, 25]),
    lr=st.sampled_from([0.1, 0.01]),
    label_noise=st.sampled_from([0.0, 0.2]),
)


@settings(max_examples=60, deadline=None)
@given(configs=st.lists(config_strategy, max_size=20), max_runs=st.integers(1, 6))
def test_plan_stacks_puts_every_config_in_one_stack_of_compatible_runs(configs, max_runs):
    stacks = plan_stacks(configs, max_runs)
    assert sorted(map(id, (c for s in stacks for c in s))) == sorted(map(id, configs))
    for stack in stacks:
        assert 1 <= len(stack) <= max_runs
        assert len({stack_key(config) for config in stack}) == 1
        positions = [next(i for i, c in enumerate(configs) if c is config) for config in stack]
        assert positions == sorted(positions), "plan order is kept inside a stack"
    by_key = {}
    for stack in stacks:
        by_key.setdefault(stack_key(stack[0]), []).append(len(stack))
    for sizes in by_key.values():  # as few stacks as the limit allows, of sizes that differ by at most one
        assert len(sizes) == -(-sum(sizes) // max_runs) and max(sizes) - min(sizes) <= 1
    assert set(PER_RUN_FIELDS) <= set(RunConfig.__dataclass_fields__)


# ----------------------------------------------------------------------------- single-run fast paths

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), noisy=st.booleans(), all_clean=st.booleans())
def test_one_sync_epoch_metrics_equal_the_plain_computation(seed, noisy, all_clean):
    generator = torch.Generator().manual_seed(seed)
    classes, n_train, n_test = 4, 40, 24
    train_logits = torch.randn(n_train, classes, generator=generator)
    test_logits = torch.randn(n_test, classes, generator=generator)
    y_train = torch.randint(0, classes, (n_train,), generator=generator)
    y_test = torch.randint(0, classes, (n_test,), generator=generator)
    flipped = torch.zeros(n_train, dtype=torch.bool) if all_clean else torch.rand(n_train, generator=generator) < 0.3
    loss_fn = get_loss("focal:2")
    indices = (flipped.nonzero().squeeze(1), (~flipped).nonzero().squeeze(1)) if noisy else (None, None)
    layout = EpochLayout(classes, noisy=noisy)
    values = layout.encode_metrics(train_logits, test_logits, y_train, y_test, loss_fn, *indices).tolist()
    metrics = layout.decode_metrics(values)

    def plain(logits, labels):
        correct = (logits.argmax(1) == labels).float()
        per_class = [float(correct[labels == c].mean()) if (labels == c).any() else 0.0 for c in range(classes)]
        ce = float(torch.nn.functional.cross_entropy(logits, labels))
        return float(loss_fn(logits, labels)), float(correct.mean()), ce, per_class, correct

    train_loss, train_accuracy, train_ce, _, train_correct = plain(train_logits, y_train)
    test_loss, test_accuracy, test_ce, test_per_class, _ = plain(test_logits, y_test)
    # The softmax runs along the transposed logits (lossdemo.row_softmax): equal to float rounding.
    assert (metrics["train_loss"], metrics["train_accuracy"]) == (train_loss, train_accuracy)
    assert (metrics["test_loss"], metrics["test_accuracy"]) == (test_loss, test_accuracy)
    assert (metrics["train_ce"], metrics["test_ce"]) == pytest.approx((train_ce, test_ce), rel=1e-6)
    assert metrics["test_per_class_accuracy"] == pytest.approx(test_per_class, abs=1e-7)
    if noisy:
        expected_flipped = float(train_correct[flipped].mean()) if flipped.any() else None
        assert metrics["train_accuracy_on_flipped"] == expected_flipped
        assert metrics["train_accuracy_on_clean"] == float(train_correct[~flipped].mean())
    else:
        assert "train_accuracy_on_flipped" not in metrics


def test_a_run_does_not_depend_on_the_callers_thread_count_and_restores_it():
    config = RunConfig(loss="focal:2", epochs=1, batch_size=64)
    histories = []
    for threads in (1, 2):
        with cpu_threads(threads):
            histories.append(train_run(config, tiny_dataset()).history)
            assert torch.get_num_threads() == threads, "train_run restores the caller's setting"
    assert histories[0] == histories[1]


@pytest.mark.skipif(cpu_speed._CONVOLUTION_RELU is None, reason="this torch build has no fused oneDNN conv+ReLU")
@pytest.mark.parametrize("model_name", ["cnn2d-stem", "cnn2d"])
def test_fused_conv_relu_gives_bit_for_bit_the_values_and_gradients_of_the_separate_layers(monkeypatch, model_name):
    torch.manual_seed(0)
    model = build_model(model_name, (1, 12, 12), 4).to(memory_format=torch.channels_last)
    x = torch.randn(16, 1, 12, 12).contiguous(memory_format=torch.channels_last)
    fused_calls = []
    real_apply = cpu_speed._ConvolutionReLU.apply
    monkeypatch.setattr(cpu_speed._ConvolutionReLU, "apply", lambda *a: fused_calls.append(1) or real_apply(*a))

    def logits_and_gradients(fuse: bool):
        model.zero_grad()
        logits = (cpu_speed.fast_forward(model) if fuse else model)(x)
        logits.square().sum().backward()
        return logits.detach(), [p.grad.clone() for p in model.parameters()]

    fused_logits, fused_grads = logits_and_gradients(True)
    assert len(fused_calls) == 3, "all three conv+ReLU pairs are fused on CPU"
    plain_logits, plain_grads = logits_and_gradients(False)
    assert len(fused_calls) == 3
    assert torch.equal(fused_logits, plain_logits)
    assert all(torch.equal(a, b) for a, b in zip(fused_grads, plain_grads))


def test_cpu_micro_batches_train_cnn2d_like_whole_batches_up_to_float_reassociation(monkeypatch):
    dataset = tiny_images(size=12)
    config = RunConfig(dataset=dataset.name, model="cnn2d", epochs=2, batch_size=64, lr=0.02, loss="focal:2")
    assert cpu_speed.cpu_micro_batch_for("cnn2d", "cpu") == 64 < 128 == RunConfig().batch_size
    monkeypatch.setattr(modules_engine, "cpu_micro_batch_for", lambda name, device: 16)  # 4 parts per step
    split = train_run(config, dataset)
    monkeypatch.setattr(modules_engine, "cpu_micro_batch_for", lambda name, device: None)
    whole = train_run(config, dataset)
    assert_histories_close(whole.history, split.history, len(dataset.y_test))
    assert cpu_speed.cpu_micro_batch_for("resnet", "cpu") is None, "batch norm statistics need the whole batch"
    assert cpu_speed.cpu_micro_batch_for("cnn2d-stem", "cpu") is None, "measured faster in whole batches"
    assert cpu_speed.cpu_micro_batch_for("cnn2d", "cuda") is None


def test_flushing_denormals_leaves_an_mae_run_bit_for_bit_unchanged(monkeypatch):
    """MAE's vanishing gradients are where denormals occur; flushed or not, the numbers must agree."""
    config = RunConfig(loss="mae", epochs=2)
    flushed = train_run(config).history  # the full mnist1d: a second per epoch
    monkeypatch.setattr(torch, "set_flush_denormal", lambda mode: False)
    assert train_run(config).history == flushed


@pytest.mark.parametrize("model_name", ["cnn2d-stem", "cnn2d"])
def test_channels_last_is_the_same_network_as_nchw_up_to_float_reassociation(monkeypatch, model_name):
    dataset = tiny_images()
    config = RunConfig(dataset=dataset.name, model=model_name, epochs=2, batch_size=32, lr=0.02)
    assert memory_format_for(model_name, "cpu") == torch.channels_last
    fast = train_run(config, dataset)
    monkeypatch.setattr(modules_engine, "memory_format_for", lambda *args: torch.contiguous_format)
    plain = train_run(config, dataset)
    assert_histories_close(plain.history, fast.history, len(dataset.y_test))


def _fast_engine_logits(model, x):
    """The fast engine's evaluation of one run (ModuleEngine._predict_one without an engine around it)."""
    with torch.inference_mode():
        model.eval()
        forward = cpu_speed.fast_forward(model)
        return torch.cat([forward(chunk) for chunk in torch.split(x, cpu_speed.eval_batch_size(x.device))])


@pytest.mark.parametrize("model_name, shape", [("cnn1d", (1, 40)), ("cnn2d-stem", (1, 28, 28)), ("cnn2d", (1, 28, 28))])
def test_evaluation_logits_do_not_depend_on_the_chunk_size_bit_for_bit(monkeypatch, model_name, shape):
    """Published histories stay reproducible whatever EVAL_BATCH_SIZE is tuned to (from 64 images up,
    at the one thread a run uses; oneDNN picks other kernels for a handful of images)."""
    torch.manual_seed(0)
    memory_format = memory_format_for(model_name, "cpu")
    model = build_model(model_name, shape, 10).to(memory_format=memory_format)
    x = torch.randn(1000, *shape).contiguous(memory_format=memory_format)
    logits = []
    with cpu_threads(1):
        for chunk in (64, 128, 256, 1000):  # remainders of 40, 104 and 232 images included
            monkeypatch.setitem(cpu_speed.EVAL_BATCH_SIZE, "cpu", chunk)
            logits.append(_fast_engine_logits(model, x))
    assert all(torch.equal(logits[0], other) for other in logits[1:])


@pytest.mark.parametrize("side", [2, 3, 7, 8, 28, 33])
def test_cnn2d_stem_sizes_its_linear_layer_for_any_image_side_from_two_pixels(side):
    model = build_model("cnn2d-stem", (1, side, side + 1), 3)
    assert model(torch.zeros(2, 1, side, side + 1)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"model 'cnn2d-stem' needs images of at least 2×2 pixels, got \(1, 5\)"):
        build_model("cnn2d-stem", (1, 1, 5), 3)


def test_lazy_layers_are_built_on_the_cpu_with_the_weights_a_first_forward_gave_before():
    torch.manual_seed(3)
    model = build_model("cnn1d", (1, 40), 10)
    assert not any(isinstance(p, torch.nn.parameter.UninitializedParameter) for p in model.parameters())
    torch.manual_seed(3)
    reference = cnn1d(1, 10)
    reference(torch.zeros(1, 1, 40))  # how train_run used to build the linear layer: at the first step
    for built, expected in zip(model.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(built, expected)


def test_precision_defaults_to_float32_off_cuda_and_bf16_runs_on_request():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(ValueError, match="unknown precision 'fp8'; allowed: auto, fp32, bf16"):
        resolve_precision("fp8", cpu)
    outcome = train_run(RunConfig(epochs=1, batch_size=128), tiny_dataset(), precision="bf16")
    assert outcome.precision == "bf16" and outcome.status == "complete"
    assert all(math.isfinite(value) for value in outcome.history["train_loss"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("model, channels", [("cnn2d-stem", 1), ("cnn2d", 1), ("resnet", 3)])
def test_cuda_stacked_runs_match_single_cuda_runs(model, channels):  # pragma: no cover - GPU machines only
    """The stacked path on the GPU it is meant for, in float32: the same numbers as one run at a time
    up to float reassociation (cuDNN picks other kernels for a stack's shapes)."""
    dataset = tiny_images(channels=channels)
    configs = [RunConfig(dataset=dataset.name, model=model, loss=loss, seed=seed, epochs=2, batch_size=32, lr=0.02)
               for loss, seed in (("ce", 0), ("focal:2", 1), ("mae", 2))]
    singles = [train_run(config, dataset, device="cuda", precision="fp32") for config in configs]
    stacked = train_runs(configs, dataset, device="cuda", precision="fp32")
    for single, together in zip(singles, stacked):
        assert together.device.startswith("cuda") and together.stacked_runs == len(configs)
        assert_histories_close(single.history, together.history, len(dataset.y_test), rtol=BATCH_NORM_RTOL)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_host_syncs_do_not_grow_with_the_steps_of_an_epoch():  # pragma: no cover - GPU machines only
    """Per epoch there are a few deliberate syncs (batch order in, metrics out); per step there are none."""
    import warnings

    def syncs(batch_size: int) -> int:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                train_run(RunConfig(epochs=2, batch_size=batch_size), tiny_dataset(), device="cuda")
            finally:
                torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(warning.message) for warning in caught)

    assert syncs(batch_size=128) == syncs(batch_size=32), "4x the steps must not add host syncs"


# ----------------------------------------------------------------------------- workers and shards

@pytest.mark.slow
def test_two_worker_processes_store_exactly_what_a_serial_run_stores(tmp_path):
    configs = [RunConfig(loss=loss, seed=seed, epochs=1, batch_size=512) for loss in ("ce", "mae") for seed in (0, 1)]
    execute(configs, tmp_path / "serial", workers=1)
    execute(configs, tmp_path / "workers", workers=2)
    serial, _ = load_runs(tmp_path / "serial")
    parallel, _ = load_runs(tmp_path / "workers")
    assert sorted(serial) == sorted(parallel) == sorted(config.run_id for config in configs)
    for run_id in serial:
        assert_same_numbers(serial[run_id].record["history"], parallel[run_id].record["history"])


def test_the_printed_estimate_shares_the_epochs_among_workers_up_to_the_core_count(monkeypatch):
    import lossdemo.reproduce as reproduce_module

    monkeypatch.setattr(reproduce_module.os, "cpu_count", lambda: 4)
    configs = [RunConfig(dataset="mnist5k", model="cnn2d", seed=seed, epochs=25) for seed in range(3)]
    alone = reproduce_module.estimate_seconds(configs, "cpu", workers=1)
    assert alone == pytest.approx(3 * 25 * reproduce_module.CPU_SECONDS_PER_EPOCH["mnist5k"])
    assert reproduce_module.estimate_seconds(configs, "cpu", workers=2) == pytest.approx(alone / 2)
    assert reproduce_module.estimate_seconds(configs, "cpu", workers=8) == pytest.approx(alone / 3), "3 runs, 3 busy cores"
    monkeypatch.setattr(reproduce_module.os, "cpu_count", lambda: 2)
    assert reproduce_module.estimate_seconds(configs, "cpu", workers=8) == pytest.approx(alone / 2), "2 cores"
    assert reproduce_module.estimate_seconds(configs, "cuda", workers=1) is None, "no GPU timing to estimate from"


@pytest.mark.parametrize("count", [2, 3, 5])
def test_shards_of_the_cli_plan_together_are_the_serial_plan_each_run_once(count):
    base = ["--experiments", "compare", "--datasets", "mnist1d", "mnist5k", "--seeds", "5"]
    serial = plan_for_flags(base).configs
    shards = [plan_for_flags([*base, "--shard", f"{index}/{count}"]).configs for index in range(1, count + 1)]
    ids = [config.run_id for part in shards for config in part]
    assert len(ids) == len(set(ids)), "no run in two shards"
    assert set(ids) == {config.run_id for config in serial}
    for part in shards:  # each shard keeps the serial order, so its progress output reads the same
        assert [c.run_id for c in part] == [c.run_id for c in serial if c.run_id in {p.run_id for p in part}]
    assert shard(serial, 1, 1) == serial


def test_shards_executed_into_one_directory_store_the_serial_runs(tmp_path):
    configs = [RunConfig(loss=loss, seed=seed, epochs=1, batch_size=64) for loss in ("ce", "mae") for seed in (0, 1, 2)]
    datasets = {"mnist1d": tiny_dataset()}
    execute(configs, tmp_path / "serial", datasets=datasets)
    trained = [run_id for index in (1, 2, 3)
               for run_id in execute(shard(configs, index, 3), tmp_path / "shared", datasets=datasets).trained]
    assert sorted(trained) == sorted(config.run_id for config in configs), "every run trained once, by one shard"
    serial, _ = load_runs(tmp_path / "serial")
    sharded, _ = load_runs(tmp_path / "shared")
    assert serial.keys() == sharded.keys()
    for run_id, run in serial.items():  # shards form other stacks: equal to float rounding
        assert_histories_close(run.record["history"], sharded[run_id].record["history"], len(datasets["mnist1d"].y_test))


def test_stacked_adam_updates_each_run_like_torch_adam_at_its_own_learning_rate():
    generator = torch.Generator().manual_seed(1)
    start = torch.randn(3, 7, generator=generator)
    gradients = [torch.randn(3, 7, generator=generator) for _ in range(5)]
    lrs, factors = [0.004, 0.032, 0.000125], [1.0, 0.9, 0.5, 0.1, 0.0]
    for weight_decay in (0.0, 5e-4):
        stacked = start.clone().requires_grad_()
        optimizer = StackedAdam([stacked], lrs, weight_decay=weight_decay)
        for gradient, factor in zip(gradients, factors):
            stacked.grad = gradient.clone()
            optimizer.step(factor)
        for k, lr in enumerate(lrs):
            single = start[k].clone().requires_grad_()
            reference = torch.optim.Adam([single], lr=lr, weight_decay=weight_decay)
            for gradient, factor in zip(gradients, factors):
                single.grad = gradient[k].clone()
                reference.param_groups[0]["lr"] = lr * factor
                reference.step()
            assert torch.equal(stacked.detach()[k], single.detach()), (weight_decay, lr)


def test_units_start_longest_first_and_equal_ones_keep_their_order():
    short, long_, other = (RunConfig(seed=seed, epochs=epochs) for seed, epochs in ((0, 5), (1, 50), (2, 5)))
    units = [Unit((short,), False), Unit((long_,), False), Unit((other, short), True), Unit((other,), False)]
    ordered = longest_first(units, cost=lambda config: config.epochs)
    assert [unit.runs for unit in ordered] == [(long_,), (other, short), (short,), (other,)]


def test_cuda_n_names_one_gpu_and_cuda_with_workers_spreads_them_one_gpu_each():
    from lossdemo.devices import device_for_worker, resolve_device

    assert [device_for_worker("cuda", worker, 3) for worker in range(5)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:0",
                                                                             "cuda:1"]
    assert device_for_worker("cuda", 4, 1) == "cuda" and device_for_worker("cuda:1", 0, 4) == "cuda:1"
    assert device_for_worker("cpu", 3, 0) == "cpu"
    for bad in ("cuda:x", "cuda:-1", "cpu:0", "gpu"):
        with pytest.raises(ValueError, match=f"unknown device '{bad}'; allowed: auto, cpu, cuda, mps, or cuda:N"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda:1' requested but no CUDA GPU works here"):
            resolve_device("cuda:1")


def test_each_pool_worker_takes_the_next_device_at_its_start(monkeypatch):
    import multiprocessing

    import lossdemo.runner as runner_module

    taken = multiprocessing.get_context("spawn").Value("i", 0)
    seen = []
    for _ in range(3):
        runner_module._start_worker(["cuda:0", "cuda:1"], taken)
        seen.append(runner_module._worker_device)
    monkeypatch.setattr(runner_module, "_worker_device", None)
    assert seen == ["cuda:0", "cuda:1", "cuda:0"]
