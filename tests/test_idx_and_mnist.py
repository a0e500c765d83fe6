import gzip

import numpy as np
import pytest
import torch

from datasets import DatasetError, load_dataset
from datasets.idx import read_idx, write_idx
from datasets.mnist import load_mnist
from tests.conftest import make_fake_mnist


def test_idx_round_trip_gz_and_raw(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.gz", "a"):
        write_idx(tmp_path / name, array)
        np.testing.assert_array_equal(read_idx(tmp_path / name, (2, 3, 4)), array)
        np.testing.assert_array_equal(read_idx(tmp_path / name, (None, 3, 4)), array)


@pytest.mark.parametrize("layout", ["", "mnist", "MNIST/raw"])
@pytest.mark.parametrize("compress", [True, False])
def test_loader_finds_gz_and_raw_files_in_every_layout(tmp_path, layout, compress):
    make_fake_mnist(tmp_path / layout, train=10, test=10_000, compress=compress)
    split = load_mnist("test", data_dir=str(tmp_path))
    assert split.images.shape == (10_000, 1, 28, 28)


def test_wrong_count_is_refused(tmp_path):
    make_fake_mnist(tmp_path, train=50, test=10)
    with pytest.raises(DatasetError, match="size 50 along axis 0, expected 60000"):
        load_mnist("train", data_dir=str(tmp_path))


def test_loader_returns_uint8_tensors(fake_mnist):
    split = load_mnist("test", data_dir=str(fake_mnist))
    assert split.images.dtype == torch.uint8 and split.images.shape == (10_000, 1, 28, 28)
    assert split.labels.dtype == torch.int64 and split.labels.shape == (10_000,)
    assert int(split.labels.max()) <= 9


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "damaged or truncated gzip"),
    (lambda raw: raw[:10] + bytes(b ^ 0xFF for b in raw[10:40]) + raw[40:], "damaged or truncated gzip"),
])
def test_damaged_gzip_names_the_file(fake_mnist, damage, message):
    path = fake_mnist / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DatasetError, match=message) as info:
        load_mnist("test", data_dir=str(fake_mnist))
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)


def _rewrite_payload(path, change):
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(change(raw)))


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw[:-100], "truncated"),
    (lambda raw: raw + b"\0" * 7, "longer than its header says"),
    (lambda raw: b"\x00\x00\x0d" + raw[3:], "not an IDX file of unsigned bytes"),
    (lambda raw: b"\x12\x34" + raw[2:], "not an IDX file of unsigned bytes"),
    (lambda raw: raw[:3] + b"\x02" + raw[4:], "2 dimensions, expected 3"),
    (lambda raw: raw[:2], "too short for an IDX header"),
])
def test_corrupted_idx_names_the_file(fake_mnist, change, message):
    path = fake_mnist / "t10k-images-idx3-ubyte.gz"
    _rewrite_payload(path, change)
    with pytest.raises(DatasetError, match=message) as info:
        load_mnist("test", data_dir=str(fake_mnist))
    assert str(path) in str(info.value)


def test_labels_out_of_range(fake_mnist):
    write_idx(fake_mnist / "t10k-labels-idx1-ubyte.gz", np.full(10_000, 12, dtype=np.uint8))
    with pytest.raises(DatasetError, match="labels outside 0..9"):
        load_mnist("test", data_dir=str(fake_mnist))


def test_missing_offline_names_folder_files_and_fix(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", "train", data_dir=str(tmp_path / "empty"))
    message = str(info.value)
    assert str(tmp_path / "empty") in message
    for name in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message
    assert "--data-dir" in message and "BENCH_DATA_DIR" in message
    assert "\n" not in message


def test_real_mnist_counts(real_data_dir):
    train = load_mnist("train", data_dir=str(real_data_dir))
    test = load_mnist("test", data_dir=str(real_data_dir))
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
