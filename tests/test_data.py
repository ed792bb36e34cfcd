"""load_data: splits (sizes, stratification, disjointness, seeds), scaling, generated sources, files; samplers."""

from __future__ import annotations

import importlib
import inspect
import math
import subprocess
import sys
from collections import Counter
from typing import get_args

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
from sklearn.datasets import load_digits

from redes.config import DataConfig, describe_keys, load_config
from redes.data import SPLIT_NAMES, Scaler, Splits, load_data
from redes.data.sources import IMAGE_SHAPES, SOURCES
from redes.data.batches import batches, epoch_order, steps_per_epoch
from redes.data.synthetic import load_bernoulli, load_linear
from redes.errors import RedesError

DIGITS = load_digits()
N_DIGITS = len(DIGITS.target)  # 1797


def _splits(splits: Splits):
    return [splits.get(name) for name in SPLIT_NAMES if getattr(splits, name) is not None]


def _unscaled(splits: Splits, split) -> np.ndarray:
    """The split's inputs before scaling, recovered from the scaler: x * scale + shift."""
    return (split.x * splits.scaler.scale + splits.scaler.shift).numpy()


def _samples(splits: Splits, split) -> Counter:
    """A multiset of (integer pixels, label) per sample: digits has repeated images, so count, don't set."""
    pixels = np.rint(_unscaled(splits, split)).astype(np.int8)
    return Counter(row.tobytes() + bytes([label]) for row, label in zip(pixels, split.y.tolist()))


def _digits_samples() -> Counter:
    return Counter(row.tobytes() + bytes([label])
                   for row, label in zip(DIGITS.data.astype(np.int8), DIGITS.target.tolist()))


@pytest.fixture(scope="module")
def digits() -> Splits:
    return load_data(DataConfig(), seed=0)


# --- digits: the default -------------------------------------------------------------------------------------


def test_digits_split_sizes_follow_the_fractions(digits):
    sizes = [len(split) for split in _splits(digits)]
    assert sum(sizes) == N_DIGITS == 1797
    for size, fraction in zip(sizes, (0.7, 0.15, 0.15)):
        assert abs(size - fraction * N_DIGITS) <= 1
    assert digits.task == "classification" and digits.classes == [str(d) for d in range(10)]
    assert digits.n_features == 64 and digits.n_targets == 1


def test_digits_splits_are_stratified(digits):
    share = np.bincount(DIGITS.target) / N_DIGITS
    for split in _splits(digits):
        counts = np.bincount(split.y.numpy(), minlength=10)
        assert np.abs(counts - share * len(split)).max() <= 2


def test_digits_splits_partition_the_data(digits):
    """Every sample of scikit-learn's digits lands in exactly one split, with its own label."""
    assert sum((_samples(digits, split) for split in _splits(digits)), Counter()) == _digits_samples()


def test_same_seed_same_splits_and_other_seed_other_splits(digits):
    again, other = load_data(DataConfig(), seed=0), load_data(DataConfig(), seed=1)
    for name in SPLIT_NAMES:
        assert torch.equal(again.get(name).x, digits.get(name).x)
        assert torch.equal(again.get(name).y, digits.get(name).y)
    assert not torch.equal(other.test.x, digits.test.x)
    assert _samples(other, other.test) != _samples(digits, digits.test)
    assert sum((_samples(other, split) for split in _splits(other)), Counter()) == _digits_samples()


def test_auto_scaling_maps_digit_pixels_to_unit_interval(digits):
    assert torch.equal(digits.scaler.shift, torch.zeros(64))
    assert torch.equal(digits.scaler.scale, torch.full((64,), 16.0))
    for split in _splits(digits):
        assert split.x.min() >= 0 and split.x.max() <= 1
        pixels = split.x * 16
        assert torch.equal(pixels, pixels.round())
    assert digits.train.x.max() == 1


def test_standard_scaling_uses_training_mean_and_std():
    splits = load_data(DataConfig(scale="standard"), seed=0)
    train = splits.train.x.double().numpy()
    constant = train.std(axis=0) == 0
    raw = _unscaled(splits, splits.train).astype(np.float64)
    assert constant.sum() >= 1 and np.array_equal(constant, np.ptp(np.rint(raw), axis=0) == 0)
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0)[~constant], 1, atol=1e-4)
    assert np.all(train[:, constant] == 0)
    np.testing.assert_allclose(splits.scaler.shift, np.rint(raw).mean(axis=0), atol=1e-4)
    for split in (splits.val, splits.test):  # scaled with the training statistics, not their own
        pixels = _unscaled(splits, split)
        np.testing.assert_allclose(pixels, np.rint(pixels), atol=1e-3)
    assert abs(splits.val.x.double().mean()) > 1e-4


def test_no_scaling_leaves_raw_pixels():
    splits = load_data(DataConfig(scale="none"), seed=0)
    assert torch.equal(splits.scaler.shift, torch.zeros(64)) and torch.equal(splits.scaler.scale, torch.ones(64))
    assert splits.train.x.max() == 16
    assert sum((_samples(splits, split) for split in _splits(splits)), Counter()) == _digits_samples()
    all_x = torch.cat([split.x for split in _splits(splits)])
    assert torch.equal(all_x, all_x.round())


def test_dtypes(digits):
    for split in _splits(digits):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64 and split.y.ndim == 1
    linear = load_data(DataConfig(name="linear"), seed=0)
    for split in _splits(linear):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.float32 and split.y.shape == (len(split), 1)
    assert linear.task == "regression" and linear.classes is None and linear.n_targets == 1


def test_max_samples_takes_a_reproducible_subset():
    splits = load_data(DataConfig(max_samples=300), seed=3)
    assert sum(len(split) for split in _splits(splits)) == 300
    taken = sum((_samples(splits, split) for split in _splits(splits)), Counter())
    assert not taken - _digits_samples()  # every sample taken is a digits sample
    again = load_data(DataConfig(max_samples=300), seed=3)
    assert torch.equal(again.train.x, splits.train.x) and torch.equal(again.test.y, splits.test.y)
    assert sum(len(split) for split in _splits(load_data(DataConfig(max_samples=5000), seed=3))) == N_DIGITS


def test_splits_get_names_the_problem(digits):
    with pytest.raises(RedesError, match="unknown split 'dev'; expected one of train, val, test"):
        digits.get("dev")
    no_val = load_data(DataConfig(val_fraction=0), seed=0)
    assert no_val.val is None and len(no_val.train) + len(no_val.test) == N_DIGITS
    with pytest.raises(RedesError, match=r"no val split \(set data.val_fraction above 0\)"):
        no_val.get("val")
    no_test = load_data(DataConfig(test_fraction=0, val_fraction=0.2), seed=0)
    assert abs(len(no_test.val) - 0.2 * N_DIGITS) <= 1
    with pytest.raises(RedesError, match=r"no test split \(set data.test_fraction above 0\)"):
        no_test.get("test")


def test_too_few_samples_to_hold_out():
    with pytest.raises(RedesError, match="cannot hold out 15% of 3 samples; change data.val_fraction"):
        load_data(DataConfig(name="bernoulli", n_samples=3, n_features=3), seed=0)


def test_scaler_on_arrays_and_tensors_and_move(digits):
    scaler = Scaler(shift=torch.tensor([1.0, -2.0]), scale=torch.tensor([2.0, 4.0]))
    x = np.array([[3.0, 2.0], [1.0, -2.0]])
    expected = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert torch.equal(scaler(x), expected) and torch.equal(scaler(torch.tensor(x)), expected)
    assert scaler(x).dtype == torch.float32
    assert set(scaler.state_dict()) == {"shift", "scale"}
    moved = digits.to(torch.device("cpu"))
    assert torch.equal(moved.train.x, digits.train.x) and moved.classes == digits.classes


# --- generated sources ---------------------------------------------------------------------------------------


def test_bernoulli_bits_and_labels_are_fair_coins():
    splits = load_data(DataConfig(name="bernoulli", n_samples=2000, n_features=20), seed=0)
    x = torch.cat([split.x for split in _splits(splits)]).numpy()
    y = torch.cat([split.y for split in _splits(splits)]).numpy()
    assert x.shape == (2000, 20) and set(np.unique(x)) == {0.0, 1.0} and set(np.unique(y)) == {0, 1}
    assert splits.task == "binary" and splits.classes == ["0", "1"]
    assert abs(x.mean() - 0.5) < 0.02 and np.abs(x.mean(axis=0) - 0.5).max() < 0.06  # sd 0.0025 and 0.011
    assert abs(y.mean() - 0.5) < 0.05  # sd 0.011


def test_generated_defaults_and_seeding():
    raw = load_bernoulli(DataConfig(name="bernoulli"), np.random.default_rng(0))
    assert raw.x.shape == (5000, 300) and raw.x.dtype == np.float32 and raw.y.dtype == np.int64
    line = load_linear(DataConfig(name="linear"), np.random.default_rng(0))
    assert line.x.shape == line.y.shape == (100, 1) and line.task == "regression"
    assert np.array_equal(load_linear(DataConfig(name="linear"), np.random.default_rng(0)).y, line.y)
    assert not np.array_equal(load_linear(DataConfig(name="linear"), np.random.default_rng(1)).y, line.y)


def test_linear_data_lies_on_the_configured_line():
    cfg = DataConfig(name="linear", n_samples=2000, intercept=1.5, slope=-2.0, noise=0.3)
    splits = load_data(cfg, seed=0)
    x = torch.cat([split.x for split in _splits(splits)]).numpy()[:, 0].astype(np.float64)
    y = torch.cat([split.y for split in _splits(splits)]).numpy()[:, 0].astype(np.float64)
    assert len(x) == 2000 and x.min() >= 0 and x.max() < 1
    slope, intercept = np.polyfit(x, y, 1)
    assert abs(slope + 2.0) < 0.1 and abs(intercept - 1.5) < 0.06  # standard errors 0.023 and 0.013
    assert abs(np.std(y - (intercept + slope * x)) - 0.3) < 0.02  # standard error 0.005


def test_noiseless_line_is_exact():
    splits = load_data(DataConfig(name="linear", noise=0.0, intercept=-1.0, slope=3.0), seed=2)
    for split in _splits(splits):
        np.testing.assert_allclose(split.y.numpy(), -1.0 + 3.0 * split.x.numpy(), atol=1e-6)


# --- the source table ----------------------------------------------------------------------------------------


def _function(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_reader_takes_the_config_and_a_generator(name):
    source = SOURCES[name]
    assert source.name == name and source.help and "\n" not in source.help
    assert list(inspect.signature(_function(source.reader)).parameters) == ["cfg", "rng"]
    if source.locations:
        assert list(inspect.signature(_function(source.locations)).parameters) == ["cfg"]


def test_config_choices_datasets_listing_and_the_table_agree(cli):
    assert get_args(DataConfig.model_fields["name"].annotation) == tuple(SOURCES)
    assert f"[one of {', '.join(SOURCES)}]" in describe_keys()
    lines = cli("datasets").out.splitlines()
    width = max(map(len, SOURCES))
    assert lines[:len(SOURCES)] == [f"{name:<{width}}  {source.help}" for name, source in SOURCES.items()]
    for name, source in SOURCES.items():
        if source.locations:
            header = lines.index(f"{name} is looked for in ({source.locations_note}):")
            paths = [str(path) for path in source.where(DataConfig(name=name))]
            assert [line.split()[-1] for line in lines[header + 1:header + 1 + len(paths)]] == paths


def test_an_unknown_source_names_the_nearest_and_all():
    names = ", ".join(map(repr, SOURCES))
    with pytest.raises(RedesError, match=f"data.name: expected one of {names}, got 'digitz' "
                                         r"\(did you mean 'digits'\?\)$"):
        load_config(overrides=["data.name=digitz"])


def test_image_shapes_hold_one_row_of_pixels():
    from redes.data.cifar10 import PIXELS
    from redes.data.mnist import SIDE

    assert IMAGE_SHAPES == {"digits": (8, 8), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "mnist": (28, 28),
                            "fashion_mnist": (28, 28)}
    assert math.prod(IMAGE_SHAPES["digits"]) == DIGITS.data.shape[1] and math.prod(IMAGE_SHAPES["cifar10"]) == PIXELS
    assert IMAGE_SHAPES["mnist"] == IMAGE_SHAPES["fashion_mnist"] == (SIDE, SIDE)


def test_the_table_loads_without_torch_numpy_or_the_config():
    code = ("import sys, redes.data.sources; "
            "print(sorted(m for m in ('torch', 'numpy', 'sklearn', 'pydantic', 'redes.config') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- file sources through load_data --------------------------------------------------------------------------


def _ids(split) -> list[int]:
    return split.x[:, 0].round().long().tolist()


def test_npz_test_set_is_used_and_val_comes_from_training_rows(tmp_path):
    ids = np.arange(100)
    x = np.column_stack([ids, ids % 7]).astype(np.float64)
    x_test = np.column_stack([1000 + np.arange(30), np.arange(30) % 5]).astype(np.float64)
    path = tmp_path / "own_test.npz"
    np.savez(path, x=x, y=ids % 3, x_test=x_test, y_test=np.arange(30) % 3)
    splits = load_data(DataConfig(name="file", path=str(path), val_fraction=0.2, test_fraction=0.5, scale="none"))
    np.testing.assert_array_equal(splits.test.x.numpy(), x_test)
    np.testing.assert_array_equal(splits.test.y.numpy(), np.arange(30) % 3)
    assert len(splits.val) == 20 and len(splits.train) == 80  # test_fraction is ignored
    assert sorted(_ids(splits.train) + _ids(splits.val)) == ids.tolist()
    np.testing.assert_array_equal(splits.val.y.numpy(), np.array(_ids(splits.val)) % 3)
    assert np.abs(np.bincount(splits.val.y.numpy()) - 20 / 3).max() <= 1  # stratified
    assert splits.task == "classification" and splits.classes == ["0", "1", "2"]


def test_npz_test_set_is_scaled_with_training_statistics_and_kept_whole(tmp_path):
    path = tmp_path / "own_test.npz"
    rng = np.random.default_rng(0)
    x = rng.normal(5, 2, (200, 3))
    np.savez(path, x=x, y=rng.normal(size=200), x_test=np.full((10, 3), 5.0), y_test=np.zeros(10))
    splits = load_data(DataConfig(name="file", path=str(path), scale="standard", max_samples=50), seed=0)
    assert splits.task == "regression" and len(splits.test) == 10 and len(splits.train) + len(splits.val) == 50
    recovered = _unscaled(splits, splits.train)
    distances = np.abs(recovered[:, None, :] - x[None, :, :]).max(axis=2)
    assert distances.min(axis=1).max() < 1e-4  # every training row is one of the file's rows
    rows = x[distances.argmin(axis=1)]
    assert len(set(distances.argmin(axis=1).tolist())) == len(splits.train)
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    np.testing.assert_allclose(splits.scaler.shift, mean, rtol=1e-6)
    np.testing.assert_allclose(splits.scaler.scale, std, rtol=1e-6)
    np.testing.assert_allclose(splits.test.x.numpy(), np.tile((5.0 - mean) / std, (10, 1)), rtol=1e-5, atol=1e-6)


def test_csv_file_is_split_three_ways(tmp_path):
    species = ["setosa", "versicolor", "virginica"]
    path = tmp_path / "iris.csv"
    path.write_text("id,petal,species\n" + "".join(f"{i},{i % 5},{species[i % 3]}\n" for i in range(60)))
    splits = load_data(DataConfig(name="file", path=str(path), scale="none"), seed=0)
    assert splits.classes == species and splits.n_features == 2
    assert sorted(sum((_ids(split) for split in _splits(splits)), [])) == list(range(60))
    for split in _splits(splits):
        np.testing.assert_array_equal(split.y.numpy(), np.array(_ids(split)) % 3)
        assert np.abs(np.bincount(split.y.numpy(), minlength=3) - len(split) / 3).max() <= 1


def test_tiny_file_with_many_classes_still_splits(tmp_path):
    """20 rows of 10 classes with 60% held out for test leaves 8 training rows: too few to stratify."""
    path = tmp_path / "tiny.csv"
    path.write_text("".join(f"{i},{i % 10}\n" for i in range(20)))
    splits = load_data(DataConfig(name="file", path=str(path), val_fraction=0.1, test_fraction=0.6, scale="none"))
    assert [len(split) for split in _splits(splits)] == [6, 2, 12]
    assert sorted(sum((_ids(split) for split in _splits(splits)), [])) == list(range(20))


def test_file_errors_reach_the_caller(tmp_path):
    with pytest.raises(RedesError, match="data.name=file needs data.path"):
        load_data(DataConfig(name="file"))
    with pytest.raises(RedesError, match="not found"):
        load_data(DataConfig(name="file", path=str(tmp_path / "missing.csv")))


# --- mini-batches --------------------------------------------------------------------------------------------


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("n, b", [(10, 3), (10, 5), (3, 8), (1, 1), (100, 32)])
def test_steps_per_epoch(n, b):
    assert steps_per_epoch(n, b, "shuffle") == steps_per_epoch(n, b, "contiguous") == math.ceil(n / b)
    assert steps_per_epoch(n, b, "replacement") == steps_per_epoch(n, b, "repeat") == max(1, n // b)
    for sampler in ("shuffle", "contiguous", "replacement", "repeat"):
        assert len(list(batches(torch.zeros(n, 1), torch.zeros(n), b, sampler, _generator()))) == \
            steps_per_epoch(n, b, sampler)


def test_shuffle_covers_every_index_once_per_epoch():
    generator = _generator(7)
    first, second = epoch_order(50, 8, "shuffle", generator), epoch_order(50, 8, "shuffle", generator)
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(50))
    assert not torch.equal(first, second)
    replay = _generator(7)
    assert torch.equal(epoch_order(50, 8, "shuffle", replay), first)
    assert torch.equal(epoch_order(50, 8, "shuffle", replay), second)
    seen = torch.cat([y for _, y in batches(torch.zeros(50, 1), torch.arange(50), 8, "shuffle", _generator())])
    assert sorted(seen.tolist()) == list(range(50))


def test_contiguous_is_data_order_with_a_partial_last_batch():
    x, y = torch.arange(20.0).reshape(10, 2), torch.arange(10)
    assert epoch_order(10, 4, "contiguous", _generator()) is None
    pairs = list(batches(x, y, 4, "contiguous", _generator()))
    assert [len(by) for _, by in pairs] == [4, 4, 2]
    assert torch.equal(torch.cat([bx for bx, _ in pairs]), x) and torch.equal(torch.cat([by for _, by in pairs]), y)


def test_replacement_draws_full_batches_of_valid_indices():
    order = epoch_order(20, 8, "replacement", _generator())
    assert order.shape == (16,) and order.min() >= 0 and order.max() < 20
    pairs = list(batches(torch.zeros(20, 1), torch.arange(20), 8, "replacement", _generator()))
    assert [len(by) for _, by in pairs] == [8, 8]
    more_than_data = next(batches(torch.zeros(5, 1), torch.arange(5), 8, "replacement", _generator()))[1]
    assert len(more_than_data) == 8 and len(set(more_than_data.tolist())) <= 5  # 8 draws of 5: repeats
    draws = torch.cat([epoch_order(10, 10, "replacement", _generator(seed)) for seed in range(200)])
    counts = torch.bincount(draws, minlength=10)
    assert len(counts) == 10 and counts.min() > 150 and counts.max() < 250  # uniform: 200 +- 14 each
    repeated = sum(len(set(epoch_order(10, 10, "replacement", _generator(s)).tolist())) < 10 for s in range(20))
    assert repeated >= 19  # without replacement, a batch of all 10 would never repeat an index


def test_repeat_copies_one_random_sample_into_each_batch():
    pairs = list(batches(torch.arange(40.0).unsqueeze(1), torch.arange(40), 8, "repeat", _generator(3)))
    assert len(pairs) == 5 and all(len(by) == 8 and len(set(by.tolist())) == 1 for _, by in pairs)
    assert len({int(by[0]) for _, by in pairs}) > 1  # a new sample for each batch
    draws = torch.cat([epoch_order(10, 10, "repeat", _generator(seed)) for seed in range(100)])
    assert set(draws.tolist()) == set(range(10))


@pytest.mark.parametrize("sampler", ["shuffle", "contiguous", "replacement", "repeat"])
def test_batches_keep_inputs_and_targets_together(sampler):
    n = 23
    x, y = torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.arange(n)
    for bx, by in batches(x, y, 5, sampler, _generator(1)):
        assert bx.shape == (len(by), 1) and torch.equal(bx[:, 0].long(), by)


def test_batches_are_reproducible_from_the_generator_seed():
    x, y = torch.randn(30, 3), torch.arange(30)
    for sampler in ("shuffle", "replacement"):
        first = [by for _, by in batches(x, y, 4, sampler, _generator(5))]
        again = [by for _, by in batches(x, y, 4, sampler, _generator(5))]
        assert all(torch.equal(a, b) for a, b in zip(first, again)) and len(first) == len(again)


def test_unknown_sampler():
    with pytest.raises(ValueError, match="unknown sampler 'random'"):
        epoch_order(10, 2, "random", _generator())


@pytest.mark.parametrize("sampler", ["shuffle", "contiguous", "replacement", "repeat"])
def test_numpy_arrays_are_cut_into_the_tensors_batches(monkeypatch, sampler):
    """The manual engine on NumPy gets NumPy batches: the same rows, in the same order, as torch's, also across
    gather chunks (here 2 batches a chunk)."""
    import redes.data.batches as cutting

    monkeypatch.setattr(cutting, "GATHER_BYTES", 2 * 5 * (3 * 4 + 8))
    x, y = torch.randn(23, 3), torch.arange(23)
    tensors = list(batches(x, y, 5, sampler, _generator(4)))
    arrays = list(batches(x.numpy(), y.numpy(), 5, sampler, _generator(4)))
    assert len(arrays) == len(tensors) == steps_per_epoch(23, 5, sampler)
    for (ax, ay), (tx, ty) in zip(arrays, tensors):
        assert isinstance(ax, np.ndarray) and isinstance(ay, np.ndarray)
        assert np.array_equal(ax, tx.numpy()) and np.array_equal(ay, ty.numpy())


@pytest.mark.parametrize("name, key, value", [("digits", "path", "mine.csv"), ("digits", "n_samples", 50),
                                              ("bernoulli", "noise", 0.5), ("file", "vocab", 20),
                                              ("cifar10", "target", 0), ("linear", "download", False)])
def test_a_key_the_source_does_not_read_is_an_error(name, key, value, cli):
    from redes.data.sources import SOURCES

    assert key not in SOURCES[name].keys
    result = cli("train", "--set", f"data.name={name}", "--set", f"data.{key}={value}")
    assert result.status == 2 and result.err.count("\n") == 1
    assert f"data.{key} is not read by data.name={name}" in result.err


def test_every_key_a_source_declares_is_accepted_and_a_default_is_never_an_error():
    from redes.config import DataConfig
    from redes.data.sources import COMMON_KEYS, SOURCES

    for name, source in SOURCES.items():
        DataConfig(name=name, **{key: DataConfig.model_fields[key].default for key in DataConfig.model_fields
                                 if key != "name"})  # every key at its default: fine for every source
        assert set(source.keys) | set(COMMON_KEYS) <= set(DataConfig.model_fields)


def test_digits_are_scikit_learns_digits_read_without_importing_it():
    from redes.data.digits import load_digits as digits_read_here

    ours, theirs = digits_read_here(None, None), load_digits()
    np.testing.assert_array_equal(ours.x, theirs.data.astype(np.float32))
    np.testing.assert_array_equal(ours.y, theirs.target)
    assert ours.classes == [str(c) for c in theirs.target_names]


@settings(max_examples=200, deadline=None)
@given(counts=st.lists(st.integers(2, 30), min_size=1, max_size=8), seed=st.integers(0, 2**32 - 1),
       share=st.floats(0.05, 0.95), stratify=st.booleans())
def test_held_out_rows_are_scikit_learns_train_test_split(counts, seed, share, stratify):
    from sklearn.model_selection import train_test_split

    from redes.data.splits import held_out_rows

    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    n = len(labels)
    n_out = min(max(int(round(share * n)), 1), n - 1)
    stratify = stratify and min(n_out, n - n_out) >= len(counts)
    expected = train_test_split(np.arange(n), test_size=n_out, random_state=seed,
                                stratify=labels if stratify else None)
    kept, held = held_out_rows(labels if stratify else None, n, n_out, seed)
    np.testing.assert_array_equal(kept, expected[0])
    np.testing.assert_array_equal(held, expected[1])
