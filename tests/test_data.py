"""gendl.data: preparing datasets from original files with TFDS, errors, and the batch sampler.

Every test prepares into its own tmp TFDS data dir and never reaches the network: downloads are
either answered from local files or made to fail.
"""

import functools
import gzip
import http.server
import io
import pickle
import socket
import tarfile
import threading
import time

import idx_fixtures
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gendl.data import builders, idx, source
from gendl.data.sampler import BatchIterator, BatchSampler, to_float
from gendl.data.source import DataError, DataNotFoundError

IDX_NAMES = [name for pair in idx_fixtures.IDX_FILES.values() for name in pair]


@pytest.fixture
def dirs(tmp_path):
    return {"manual_dir": tmp_path / "manual", "data_dir": tmp_path / "tfds"}


@pytest.fixture
def offline(monkeypatch):
    """Hosts resolve, but every download fails; records the URLs that were asked for."""
    asked = []

    def fail(self, urls):
        asked.append(urls)
        raise ConnectionError("network is unreachable (test)")

    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])
    monkeypatch.setattr(tfds.download.DownloadManager, "download", fail)
    return asked


# --- Preparing and loading.


def test_mnist_from_manual_files(dirs):
    idx_fixtures.write_idx_dataset(dirs["manual_dir"], "mnist", n_train=50, n_test=20, seed=3)
    expected = idx_fixtures.fake_idx_arrays(50, 20, seed=3)
    for split, (want_images, want_labels) in expected.items():
        images, labels = source.load_split("mnist", split, **dirs)
        assert images.shape == (len(want_images), 28, 28, 1) and images.dtype == np.uint8
        assert labels.shape == (len(want_images),) and labels.dtype == np.int32
        # The builders store examples in file order (disable_shuffling), so even the order
        # matches, not just the multiset.
        np.testing.assert_array_equal(images[..., 0], want_images)
        np.testing.assert_array_equal(labels, want_labels)


def test_prepared_order_is_deterministic_and_reused(dirs, tmp_path):
    idx_fixtures.write_idx_dataset(dirs["manual_dir"], "mnist", n_train=40, n_test=10)
    first = source.load_split("mnist", "train", **dirs)
    other = source.load_split(
        "mnist", "train", manual_dir=dirs["manual_dir"], data_dir=tmp_path / "tfds2"
    )
    np.testing.assert_array_equal(first[0], other[0])
    np.testing.assert_array_equal(first[1], other[1])
    # Once prepared, the original files are no longer needed.
    again = source.load_split(
        "mnist", "train", manual_dir=tmp_path / "gone", data_dir=dirs["data_dir"]
    )
    np.testing.assert_array_equal(first[0], again[0])
    assert (dirs["data_dir"] / "gendl" / "mnist" / "1.0.0").is_dir()


def test_env_vars_and_relative_paths(tmp_path, monkeypatch):
    # Tests and users run with e.g. GENDL_MANUAL_DIR=../shared/data: relative to the cwd.
    idx_fixtures.write_idx_dataset(tmp_path / "manual", "fashion_mnist", n_train=30, n_test=10)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENDL_MANUAL_DIR", "manual")
    monkeypatch.setenv("TFDS_DATA_DIR", "tfds")
    images, labels = source.load_split("fashion_mnist", "test")
    assert images.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(labels, idx_fixtures.fake_idx_arrays(30, 10)["test"][1])
    assert (tmp_path / "tfds" / "gendl" / "fashion_mnist").is_dir()


def test_cifar10_from_fake_archive(dirs):
    _, expected = idx_fixtures.write_cifar10_archive(dirs["manual_dir"], n_per_batch=6, n_test=5)
    for split, (want_images, want_labels) in expected.items():
        images, labels = source.load_split("cifar10", split, **dirs)
        assert images.shape == (len(want_images), 32, 32, 3) and images.dtype == np.uint8
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)
    assert len(expected["train"][0]) == 30


def test_download_path_uses_canonical_urls(dirs, monkeypatch):
    # Everything after the download runs on local files: the fake download returns them.
    local = idx_fixtures.write_idx_dataset(dirs["manual_dir"], "mnist", n_train=20, n_test=10)
    asked = []

    def download(self, urls):
        asked.append(urls)
        return {key: local / "mnist" / url.rsplit("/", 1)[-1] for key, url in urls.items()}

    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])
    monkeypatch.setattr(tfds.download.DownloadManager, "download", download)
    monkeypatch.delenv("GENDL_MANUAL_DIR", raising=False)
    images, _ = source.load_split("mnist", "train", manual_dir=None, data_dir=dirs["data_dir"])
    assert images.shape == (20, 28, 28, 1)
    base = "https://storage.googleapis.com/cvdf-datasets/mnist/"
    assert sorted(asked[0].values()) == sorted(base + name for name in IDX_NAMES)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_real_tfds_download_from_local_server(dirs, tmp_path, monkeypatch):
    # TFDS's own downloader (requests) fetches the files over HTTP, from a local server.
    served = idx_fixtures.write_idx_dataset(tmp_path / "served", "mnist", n_train=20, n_test=10)
    handler = functools.partial(_QuietHandler, directory=str(served / "mnist"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setattr(builders.MnistBuilder, "URLS", builders._idx_urls(base))
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    try:
        images, labels = source.load_split("mnist", "test", **dirs)
    finally:
        server.shutdown()
    want_images, want_labels = idx_fixtures.fake_idx_arrays(20, 10)["test"]
    np.testing.assert_array_equal(images[..., 0], want_images)
    np.testing.assert_array_equal(labels, want_labels)


def test_concurrent_prepare_is_safe(dirs):
    idx_fixtures.write_idx_dataset(dirs["manual_dir"], "mnist", n_train=200, n_test=10)
    results, errors = [], []

    def load():
        try:
            results.append(source.load_split("mnist", "train", **dirs))
        except Exception as err:  # Collected so the test reports it, not the thread.
            errors.append(err)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 3
    for images, labels in results[1:]:
        np.testing.assert_array_equal(images, results[0][0])
        np.testing.assert_array_equal(labels, results[0][1])


def test_data_prepared_by_another_process_after_the_builder_was_made_is_read(dirs, monkeypatch):
    # The race test_concurrent_prepare_is_safe can lose: the data appears between making the
    # builder (which then has read no splits) and checking that the data exists.
    idx_fixtures.write_idx_dataset(dirs["manual_dir"], "mnist", n_train=200, n_test=10)
    is_current = source._is_current

    def prepared_meanwhile(builder, sources):
        monkeypatch.setattr(source, "_is_current", is_current)
        source.prepare("mnist", **dirs)  # another process, finishing first
        return is_current(builder, sources)

    monkeypatch.setattr(source, "_is_current", prepared_meanwhile)
    images, labels = source.load_split("mnist", "train", **dirs)
    assert images.shape == (200, 28, 28, 1) and labels.shape == (200,)


# --- Errors.


def test_missing_data_names_both_ways_out(dirs, offline):
    with pytest.raises(DataNotFoundError) as info:
        source.load_split("mnist", "train", **dirs)
    message = str(info.value)
    assert str(dirs["manual_dir"] / "mnist") in message
    assert all(name in message for name in IDX_NAMES)
    assert "GENDL_MANUAL_DIR" in message and "--config.data.manual_dir" in message
    assert "internet" in message and "storage.googleapis.com" in message
    assert isinstance(info.value.__cause__, ConnectionError)
    assert len(offline) == 1
    # A failed attempt leaves nothing behind that would block a later prepare.
    idx_fixtures.write_idx_dataset(dirs["manual_dir"], "mnist", n_train=10, n_test=10)
    assert source.load_split("mnist", "test", **dirs)[0].shape == (10, 28, 28, 1)


def test_unresolvable_host_fails_fast_without_download(dirs, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def no_download(self, urls):
        raise AssertionError("must not try to download when the host does not resolve")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(tfds.download.DownloadManager, "download", no_download)
    monkeypatch.delenv("GENDL_MANUAL_DIR", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    start = time.monotonic()
    with pytest.raises(DataNotFoundError, match="www.cs.toronto.edu") as info:
        source.load_split("cifar10", "train", data_dir=dirs["data_dir"])
    assert time.monotonic() - start < 10
    assert "GENDL_MANUAL_DIR is unset" in str(info.value)
    assert isinstance(info.value.__cause__, socket.gaierror)


def test_unknown_dataset_and_split():
    with pytest.raises(DataError, match="mnist, fashion_mnist, cifar10"):
        source.load_split("imagenet", "train")
    with pytest.raises(DataError, match="'validation'"):
        source.load_split("mnist", "validation")


def test_partial_manual_dir_names_missing_files(dirs, offline):
    idx_fixtures.write_idx_dataset(dirs["manual_dir"], "mnist", n_train=10, n_test=10)
    (dirs["manual_dir"] / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz missing") as info:
        source.load_split("mnist", "train", **dirs)
    assert not isinstance(info.value, DataNotFoundError)
    assert not offline  # A partial copy is a mistake to fix, not a reason to download.


def _rewrite(path, data: bytes):
    path.write_bytes(gzip.compress(data))


@pytest.mark.parametrize(
    "corrupt, reason",
    [
        (lambda p: _rewrite(p, b"\x00\x00\x08\x01" + gzip.decompress(p.read_bytes())[4:]), "magic"),
        (lambda p: _rewrite(p, gzip.decompress(p.read_bytes())[:-100]), "holds"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "gzip"),
        (lambda p: p.write_bytes(b"<html>Not Found</html>"), "gzip"),
    ],
    ids=["bad-magic", "truncated-data", "truncated-gzip", "not-gzip"],
)
def test_corrupt_idx_file(tmp_path, corrupt, reason):
    idx_fixtures.write_idx_dataset(tmp_path, "mnist", n_train=20, n_test=5)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    corrupt(path)
    with pytest.raises(DataError, match=reason) as info:
        idx.read_idx(path, ndim=3)
    assert str(path) in str(info.value) and "download it again" in str(info.value)


def test_corrupt_file_error_passes_through_tfds(dirs):
    idx_fixtures.write_idx_dataset(dirs["manual_dir"], "mnist", n_train=10, n_test=10)
    path = dirs["manual_dir"] / "mnist" / "t10k-labels-idx1-ubyte.gz"
    _rewrite(path, idx_fixtures.idx_bytes(np.full(10, 12, np.uint8)))
    idx_fixtures.list_unofficial(path.parent)  # past the checksum, to the reader's check
    with pytest.raises(DataError, match="label 12") as info:
        source.load_split("mnist", "test", **dirs)
    assert str(path) in str(info.value)
    assert not (dirs["data_dir"] / "gendl" / "mnist" / "1.0.0").exists()


def test_corrupt_cifar_archive(dirs):
    idx_fixtures.write_cifar10_archive(dirs["manual_dir"], n_per_batch=2, n_test=2)
    archive = dirs["manual_dir"] / "cifar10" / idx_fixtures.CIFAR10_ARCHIVE
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DataError, match="download it again") as info:
        source.load_split("cifar10", "train", **dirs)
    assert str(archive) in str(info.value)


def test_cifar_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        payload = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match=r"refusing to load __builtin__\.print"):
        builders._read_cifar_batches(str(archive), ["test_batch"])


# --- Real data (skipped unless GENDL_MANUAL_DIR points at the shared files).


def test_real_mnist(real_manual_dir, tmp_path):
    images, labels = source.load_split(
        "mnist", "train", manual_dir=real_manual_dir, data_dir=tmp_path
    )
    assert images.shape == (60000, 28, 28, 1) and images.dtype == np.uint8
    counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), counts)
    assert labels[0] == 5  # The first training digit of the original file: stored order kept.


# --- Sampler.


def test_sampler_is_deterministic():
    a = BatchSampler(100, 10, seed=7)
    b = BatchSampler(100, 10, seed=7)
    for k in (0, 3, 10, 25):
        np.testing.assert_array_equal(a.indices(k), b.indices(k))
    assert not np.array_equal(a.indices(0), BatchSampler(100, 10, seed=8).indices(0))


def test_host_shards_partition_the_global_batch():
    global_sampler = BatchSampler(103, 12, seed=1)
    hosts = [BatchSampler(103, 12, seed=1, process_index=i, process_count=4) for i in range(4)]
    for k in range(20):
        shards = [host.indices(k) for host in hosts]
        assert all(len(shard) == 3 for shard in shards)
        np.testing.assert_array_equal(np.concatenate(shards), global_sampler.indices(k))


def test_epochs_cover_each_example_once():
    sampler = BatchSampler(100, 10, seed=0)
    assert sampler.batches_per_epoch == 10
    for epoch in range(3):
        seen = np.concatenate([sampler.indices(epoch * 10 + j) for j in range(10)])
        np.testing.assert_array_equal(np.sort(seen), np.arange(100))
    assert not np.array_equal(sampler.indices(0), sampler.indices(10))  # Reshuffled per epoch.


def test_remainder_is_dropped_per_epoch():
    sampler = BatchSampler(25, 10, seed=0)
    assert sampler.batches_per_epoch == 2
    assert sampler.epoch(1) == 0 and sampler.epoch(2) == 1
    epoch = np.concatenate([sampler.indices(0), sampler.indices(1)])
    assert len(np.unique(epoch)) == 20
    assert set(sampler.indices(2)) | set(sampler.indices(3)) <= set(range(25))


def test_resume_reproduces_uninterrupted_run():
    data = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
    labels = np.arange(50, dtype=np.int32)
    run = BatchIterator(data, labels, BatchSampler(50, 8, seed=3))
    uninterrupted = [run.get(k)["label"] for k in range(20)]
    state = run.sampler.state_dict(next_batch_number=13)
    resumed = BatchIterator(data, labels, BatchSampler(50, 8, seed=3))
    start = resumed.sampler.check_state(state)
    assert start == 13
    for k in range(start, 20):
        np.testing.assert_array_equal(resumed.get(k)["label"], uninterrupted[k])


def test_batch_iterator_values_and_stacking():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 4, 4, 3), dtype=np.uint8)
    images[0] = 255
    labels = rng.integers(0, 10, size=64).astype(np.int32)
    batches = BatchIterator(images, labels, BatchSampler(64, 8, seed=0, process_count=2))
    out = batches.get(5, count=3)
    assert out["image"].shape == (3, 4, 4, 4, 3) and out["image"].dtype == np.uint8
    assert out["label"].shape == (3, 4) and out["label"].dtype == np.int32
    for i in range(3):
        single = batches.get(5 + i)
        np.testing.assert_array_equal(out["image"][i], single["image"][0])
        index = batches.sampler.indices(5 + i)
        np.testing.assert_array_equal(out["image"][i], images[index])
        np.testing.assert_array_equal(out["label"][i], labels[index])
    every = to_float(np.concatenate([batches.get(k)["image"] for k in range(8)]))
    assert every.dtype == np.float32 and every.min() >= 0.0 and every.max() == 1.0


def test_batch_is_fast():
    # The VAE step runs ~200 steps/s, so host-side batch work must stay well under 1 ms.
    images = np.zeros((60000, 28, 28, 1), np.uint8)
    batches = BatchIterator(images, np.zeros(60000, np.int32), BatchSampler(60000, 128, seed=0))
    batches.get(0)
    times = []
    for k in range(1, 101):
        start = time.perf_counter()
        batches.get(k)
        times.append(time.perf_counter() - start)
    assert np.median(times) < 1e-3


def test_indices_are_read_only():
    sampler = BatchSampler(20, 5, seed=0)
    with pytest.raises(ValueError):
        sampler.indices(0)[0] = 3


def test_batch_size_not_divisible_by_processes():
    with pytest.raises(DataError, match="not divisible by the number of processes 3"):
        BatchSampler(100, 10, seed=0, process_count=3)


def test_dataset_smaller_than_a_batch():
    with pytest.raises(DataError, match="fewer than one global batch"):
        BatchSampler(5, 10, seed=0)


@pytest.mark.parametrize("change", [{"seed": 4}, {"num_examples": 99}, {"global_batch_size": 20}])
def test_check_state_rejects_incompatible_state(change):
    state = {**BatchSampler(100, 10, seed=3).state_dict(7), **change}
    with pytest.raises(DataError, match="would not reproduce"):
        BatchSampler(100, 10, seed=3).check_state(state)


def test_check_state_allows_new_process_count():
    # The global batches do not depend on how many hosts share them.
    state = BatchSampler(100, 10, seed=3, process_count=2).state_dict(7)
    assert BatchSampler(100, 10, seed=3, process_count=5).check_state(state) == 7
    with pytest.raises(DataError, match="lacks next_batch"):
        BatchSampler(100, 10, seed=3).check_state({"seed": 3})
