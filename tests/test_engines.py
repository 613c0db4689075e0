"""The engine boundary: the fast engine computes the reference engine's numbers, sooner.

Stated tolerance: after two epochs, the two engines' histories agree as stacked and single runs
do (``support.assert_histories_close``): losses and cross-entropies to a relative 1e-4 (1e-3 with
batch norm, which divides by a batch's spread), accuracies to one or two borderline samples. They
differ only in the order of float additions (transposed softmaxes, stacked matrix products, fused
convolutions, channels-last layouts), which grows a little each step.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from support import BATCH_NORM_RTOL, HISTORY_RTOL, assert_histories_close, tiny_dataset
from test_speed_paths import tiny_images

from lossdemo.data import Dataset
from lossdemo.engines import ENGINES, StackSpec, build_engine, resolve_engine
from lossdemo.engines import cpu as fast_cpu
from lossdemo.engines.row_softmax import RowSoftmaxMode, log_softmax_backward
from lossdemo.losses import get_loss
from lossdemo.models import MODELS
from lossdemo.results import load_runs
from lossdemo.run_config import RunConfig
from lossdemo.runner import execute
from lossdemo.train import train_run, train_runs
from lossdemo.training_set import prepare_training_set


def _dataset_for(model: str) -> Dataset:
    return tiny_dataset() if model == "cnn1d" else tiny_images(channels=3 if model == "resnet" else 1)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_the_same_run_on_the_fast_and_the_reference_engine(model):
    dataset = _dataset_for(model)
    configs = [RunConfig(dataset=dataset.name, model=model, loss=loss, seed=seed, epochs=2, batch_size=32, lr=0.02,
                         validation_fraction=0.2, label_noise=noise)
               for loss, seed, noise in (("ce", 0, 0.0), ("focal:2", 1, 0.2), ("mae", 2, 0.0))]
    fast = train_runs(configs, dataset, engine="fast")
    reference = [train_run(config, dataset, engine="reference") for config in configs]
    rtol = BATCH_NORM_RTOL if model == "resnet" else HISTORY_RTOL
    for one_fast, one_reference in zip(fast, reference):
        assert one_reference.compute_path == "reference"
        assert one_fast.compute_path == ("cnn1d-gemm" if model == "cnn1d" else "modules")
        assert one_fast.status == one_reference.status == "complete"
        assert_histories_close(one_reference.history, one_fast.history, len(dataset.y_test), rtol=rtol)


def test_a_stack_on_the_reference_engine_is_its_runs_trained_one_by_one():
    dataset = tiny_dataset()
    configs = [RunConfig(loss=loss, seed=seed, epochs=2, batch_size=64) for loss, seed in (("ce", 0), ("gce:0.7", 1))]
    together = train_runs(configs, dataset, engine="reference")
    alone = [train_run(config, dataset, engine="reference") for config in configs]
    for one_together, one_alone in zip(together, alone):
        assert one_together.stacked_runs == 2 and one_together.compute_path == "reference"
        assert one_together.history.keys() == one_alone.history.keys()
        assert_histories_close(one_alone.history, one_together.history, len(dataset.y_test), rtol=1e-6)


def test_the_engine_is_chosen_by_name_and_auto_means_fast_where_its_paths_are_tested():
    assert ENGINES == ("auto", "fast", "reference")
    assert resolve_engine("auto", "cpu") == "fast" and resolve_engine("auto", "meta") == "reference"
    assert resolve_engine("reference", "cpu") == "reference"
    with pytest.raises(ValueError, match=r"unknown engine 'turbo'; allowed: auto, fast, reference"):
        resolve_engine("turbo", "cpu")
    with pytest.raises(ValueError, match="unknown engine"):
        train_run(RunConfig(epochs=1), tiny_dataset(), engine="turbo")


@pytest.mark.parametrize("name, stacked, path", [("reference", True, "reference"), ("fast", True, "cnn1d-gemm"),
                                                 ("fast", False, "modules"), ("auto", True, "cnn1d-gemm")])
def test_build_engine_picks_the_computation(name, stacked, path):
    dataset = tiny_dataset()
    config = RunConfig(epochs=1, batch_size=64)
    training_set = prepare_training_set(config, dataset)
    spec = StackSpec([config], [training_set], [get_loss(config.loss)], dataset, torch.device("cpu"), "fp32", 8)
    assert build_engine(name, spec, stacked).path == path


def test_the_runner_stores_which_engine_computed_a_run(tmp_path):
    configs = [RunConfig(seed=seed, epochs=1, batch_size=128) for seed in (0, 1)]
    execute(configs, tmp_path, datasets={"mnist1d": tiny_dataset()}, stack=None, engine="reference")
    runs, problems = load_runs(tmp_path)
    assert problems == []
    assert {run.record["metadata"]["compute_path"] for run in runs.values()} == {"reference"}
    with pytest.raises(ValueError, match="unknown engine 'warp'"):
        execute(configs, tmp_path / "other", datasets={"mnist1d": tiny_dataset()}, engine="warp")


# ----------------------------------------------------------------------------- private operators and their fallbacks

def test_the_log_softmax_backward_operator_equals_its_public_formula():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 10, generator=generator, dtype=torch.float64)
    grad = torch.randn(300, 10, generator=generator, dtype=torch.float64)
    log_probs = F.log_softmax(logits, dim=1)
    private = log_softmax_backward(grad, log_probs, 1, use_private=True)
    public = log_softmax_backward(grad, log_probs, 1, use_private=False)
    torch.testing.assert_close(private, public, rtol=1e-12, atol=1e-12)
    expected, = torch.autograd.grad(F.log_softmax(logits.requires_grad_(), dim=1), logits, grad)
    torch.testing.assert_close(public, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("has_bias, stride, padding", [(True, [2, 2], [1, 1]), (False, [1, 1], [0, 0])])
def test_the_fused_convolutions_backward_operators_equal_the_public_torch_nn_grad(has_bias, stride, padding):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 9, 9, generator=generator, dtype=torch.float64)
    weight = torch.randn(5, 3, 3, 3, generator=generator, dtype=torch.float64)
    bias = torch.randn(5, generator=generator, dtype=torch.float64) if has_bias else None
    output = torch.relu(F.conv2d(x, weight, bias, stride, padding))
    grad_output = torch.randn(output.shape, generator=generator, dtype=torch.float64)
    wanted = (True, True, has_bias)
    private = fast_cpu.conv_relu_backward(grad_output, x, weight, output, stride, padding, has_bias, wanted, True)
    public = fast_cpu.conv_relu_backward(grad_output, x, weight, output, stride, padding, has_bias, wanted, False)
    for one_private, one_public in zip(private, public):
        assert (one_private is None) == (one_public is None)
        if one_public is not None:
            torch.testing.assert_close(one_private, one_public, rtol=1e-10, atol=1e-10)


def test_the_row_softmax_mode_routes_only_the_plain_class_axis_calls():
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(64, 10, generator=generator)
    targets = torch.randint(0, 10, (64,), generator=generator)
    weight = torch.rand(10, generator=generator)
    with RowSoftmaxMode():
        routed = (F.log_softmax(logits, dim=1), torch.softmax(logits, dim=-1), F.cross_entropy(logits, targets))
        untouched = (F.log_softmax(logits, dim=0), F.cross_entropy(logits, targets, weight=weight),
                     F.log_softmax(logits.half(), dim=1))
    plain = (F.log_softmax(logits, dim=1), torch.softmax(logits, dim=-1), F.cross_entropy(logits, targets))
    for one_routed, one_plain in zip(routed, plain):
        torch.testing.assert_close(one_routed, one_plain, rtol=1e-6, atol=1e-6)
    assert torch.equal(untouched[0], F.log_softmax(logits, dim=0))
    assert torch.equal(untouched[1], F.cross_entropy(logits, targets, weight=weight))
    assert torch.equal(untouched[2], F.log_softmax(logits.half(), dim=1))
