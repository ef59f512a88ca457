"""The data layer's sources, ops and streams (gendl.data.sources, ops, pipeline), on tiny
image folders written by the tests."""

import json
import os

import image_fixtures
import ml_collections
import numpy as np
import pytest
from PIL import Image

from gendl import config as config_lib
from gendl.config import ConfigError
from gendl.data import ops as ops_lib
from gendl.data import pipeline, sources
from gendl.data.errors import DataError
from gendl.data.sources import catalog, folder
from gendl.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, array, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, fmt)


def _pattern(h, w, c, seed):
    """A distinct image per seed, whose pixels also encode their own position."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    return x[..., 0] if c == 1 else x


def _data_config(**fields):
    c = config_lib.base_config()
    c.batch_size = 4
    for key, value in fields.items():
        c.data[key] = value
    return c


# --- ops ---------------------------------------------------------------------------------------


def test_alpha_composites_onto_the_background_colour():
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque: kept
    rgba[0, 1] = (10, 20, 30, 0)  # transparent: the background
    (white,) = ops_lib.parse(["alpha_white"])
    (red,) = ops_lib.parse(["alpha:255,0,0"])
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(white({"x": rgba}, rng)["x"], [[[10, 20, 30], [255] * 3]])
    np.testing.assert_array_equal(red({"x": rgba}, rng)["x"], [[[10, 20, 30], [255, 0, 0]]])


def test_grey_rgb_and_resize_give_the_asked_shapes():
    ops = ops_lib.parse(["rgb", "resize:4", "center_crop:4"])
    out = ops_lib.apply(ops, {"x": np.zeros((8, 16, 1), np.uint8)}, np.random.default_rng(0))
    assert out["x"].shape == (4, 4, 3)
    (grey,) = ops_lib.parse(["grey"])
    assert grey({"x": np.zeros((5, 6, 4), np.uint8)}, None)["x"].shape == (5, 6, 1)


@pytest.mark.parametrize("bad", ["resize", "resize:a", "blur:3", "alpha:1,2", "random_flip:1"])
def test_unknown_or_malformed_ops_are_config_errors(bad):
    with pytest.raises(ConfigError, match="config.data.ops"):
        ops_lib.parse([bad])


# --- image folders -----------------------------------------------------------------------------


def test_class_folders_of_mixed_formats_sizes_and_modes(tmp_path):
    _write(tmp_path / "cat" / "a.png", _pattern(10, 12, 4, 0))  # RGBA
    _write(tmp_path / "cat" / "b.jpg", _pattern(7, 9, 3, 1), "JPEG")
    _write(tmp_path / "dog" / "c.png", _pattern(6, 6, 1, 2))  # grey
    Image.fromarray(_pattern(9, 5, 3, 3)).convert("P").save(tmp_path / "dog" / "d.png")
    src = folder.FolderSource(
        {"image": tmp_path}, split="train", test_fraction=0.0, ops=("alpha_white", "resize:6,6")
    )
    assert src.class_names == ("cat", "dog")
    assert len(src) == 4
    assert src.spec.num_classes == 2
    assert src.spec.features["image"].shape == (6, 6, 3)
    batch = src.read(np.array([[3, 0], [1, 2]]), np.random.default_rng(0))
    assert batch["image"].shape == (2, 2, 6, 6, 3) and batch["image"].dtype == np.uint8
    np.testing.assert_array_equal(batch["label"], [[1, 0], [0, 1]])
    # The grey PNG, resized, is the same grey level in all three channels.
    grey = batch["image"][1, 1]
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])


def test_mixed_shapes_without_ops_is_a_data_error_saying_what_to_add(tmp_path):
    _write(tmp_path / "a.png", _pattern(4, 4, 3, 0))
    _write(tmp_path / "b.png", _pattern(5, 4, 3, 1))
    src = folder.FolderSource({"image": tmp_path}, test_fraction=0.0)
    with pytest.raises(DataError, match="resize"):
        src.read(np.array([0, 1]), np.random.default_rng(0))


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\ntruncated"])
def test_a_corrupt_image_is_one_paragraph_naming_the_file(tmp_path, content):
    _write(tmp_path / "a.png", _pattern(4, 4, 3, 0))
    (tmp_path / "b.png").write_bytes(content)
    src = folder.FolderSource({"image": tmp_path}, test_fraction=0.0)
    with pytest.raises(DataError) as err:
        src.read(np.array([1]), np.random.default_rng(0))
    message = str(err.value)
    assert str(tmp_path / "b.png") in message and "Delete it or replace it" in message
    assert "\n" not in message


def test_a_non_image_file_is_named_when_the_folder_is_listed(tmp_path):
    _write(tmp_path / "a.png", _pattern(4, 4, 3, 0))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden").write_text("skipped")
    with pytest.raises(DataError, match=r"notes\.txt.*Delete it or move it"):
        folder.FolderSource({"image": tmp_path})


def test_empty_and_missing_folders_are_one_paragraph(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds neither images nor class sub-folders"):
        folder.FolderSource({"image": tmp_path / "empty"})
    with pytest.raises(DataError, match="does not exist"):
        folder.FolderSource({"image": tmp_path / "missing"})


def test_hash_split_is_stable_disjoint_and_near_the_fraction(tmp_path):
    names = [f"img_{i:04d}" for i in range(2000)]
    test = {n for n in names if folder.in_split(n, "test", 0.1)}
    train = {n for n in names if folder.in_split(n, "train", 0.1)}
    assert test.isdisjoint(train) and test | train == set(names)
    assert 150 < len(test) < 250
    # Pinned: the split depends on the name only, never on the run or the machine.
    # (sha1 of "img_0004" etc. starts below 0.1 * 2**64; recomputing it gives the same).
    assert sorted(test)[:7] == [f"img_{i:04d}" for i in (4, 5, 9, 13, 15, 26, 44)]
    for i in range(40):
        _write(tmp_path / f"img_{i:04d}.png", _pattern(2, 2, 3, i))
    tr = folder.FolderSource({"image": tmp_path}, split="train", test_fraction=0.3)
    te = folder.FolderSource({"image": tmp_path}, split="test", test_fraction=0.3)
    assert set(tr.keys).isdisjoint(te.keys) and len(tr) + len(te) == 40
    assert tr.keys == folder.FolderSource({"image": tmp_path}, test_fraction=0.3).keys


def test_own_split_sub_folders_are_used_as_they_are(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            _write(tmp_path / split / f"{i}.png", _pattern(2, 2, 3, i))
    assert len(folder.FolderSource({"image": tmp_path}, split="test")) == 2
    assert len(folder.FolderSource({"image": tmp_path}, split="train")) == 3


def _paired_folders(root, n, size=8):
    for i in range(n):
        x = _pattern(size, size, 3, i)
        _write(root / "google" / f"e{i:03d}.png", x)
        _write(root / "twitter" / f"e{i:03d}.png", 255 - x)  # B = the negative of A
    _write(root / "google" / "only_here.png", _pattern(size, size, 3, 99))


def test_paired_stream_shares_one_crop_and_flip_per_example(tmp_path):
    _paired_folders(tmp_path, 6)
    c = _data_config(
        source="paired_folders",
        paths=(str(tmp_path / "google"), str(tmp_path / "twitter")),
        names=("a", "b"),
        ops=("random_crop:5", "random_flip"),
        test_fraction=0.0,
    )
    batches, spec = pipeline.build_train_data(c)
    assert set(spec.features) == {"a", "b"} and spec.features["a"].shape == (5, 5, 3)
    assert len(batches.main.source) == 6  # "only_here" has no partner
    seen_offsets = set()
    for k in range(3):
        batch = batches.get(k)
        np.testing.assert_array_equal(batch["b"], 255 - batch["a"])  # same crop, same flip
        for a, i in zip(batch["a"][0], batches.sampler.indices(k), strict=True):
            full = _pattern(8, 8, 3, int(i))
            seen_offsets.add(_locate(full, a))
    assert len(seen_offsets) > 1, "the crops must vary"
    assert {flip for _, _, flip in seen_offsets} == {False, True}


def _locate(full, crop):
    for top in range(full.shape[0] - crop.shape[0] + 1):
        for left in range(full.shape[1] - crop.shape[1] + 1):
            window = full[top : top + crop.shape[0], left : left + crop.shape[1]]
            for flip in (False, True):
                if np.array_equal(window[:, ::-1] if flip else window, crop):
                    return top, left, flip
    raise AssertionError("the crop is not a window of its image")


def test_side_by_side_images_are_cut_into_named_features(tmp_path):
    a, b = _pattern(4, 4, 3, 0), _pattern(4, 4, 3, 1)
    _write(tmp_path / "x.png", np.concatenate([a, b], axis=1))
    src = folder.FolderSource({"image": tmp_path}, test_fraction=0.0, side_by_side=("a", "b"))
    out = src.read(np.array([0]), np.random.default_rng(0))
    np.testing.assert_array_equal(out["a"][0], a)
    np.testing.assert_array_equal(out["b"][0], b)


# --- streams -----------------------------------------------------------------------------------


def _two_streams_config(tmp_path):
    for i in range(12):
        _write(tmp_path / "A" / f"a{i}.png", _pattern(6, 6, 3, i))
    for i in range(7):
        _write(tmp_path / "B" / f"b{i}.png", _pattern(6, 6, 3, 100 + i))
    c = _data_config(source="folder", path=str(tmp_path / "A"), test_fraction=0.0)
    c.data.ops = ("random_crop:4", "random_flip")
    c.data.streams.b = ml_collections.ConfigDict(dict(path=str(tmp_path / "B"), batch_size=2))
    return c


def test_unpaired_streams_of_different_lengths_resume_exactly(tmp_path):
    c = _two_streams_config(tmp_path)
    run, spec = pipeline.build_train_data(c)
    assert spec.features["b/image"].shape == (4, 4, 3)
    assert run.extra["b"].sampler.batches_per_epoch == 3  # 7 // 2: its own epochs
    uninterrupted = [run.get(k, count=2) for k in range(0, 12, 2)]
    state = (run.sampler.state_dict(6), run.state_dict(6))
    resumed, _ = pipeline.build_train_data(c)  # a fresh process after a restart
    start = resumed.check_state(*state)
    assert start == 6
    for k, expected in zip(range(start, 12, 2), uninterrupted[3:], strict=True):
        got = resumed.get(k, count=2)
        assert set(got) == {"image", "b/image"}
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])
    # A stream that changed length would not resume exactly: refused.
    os.remove(tmp_path / "B" / "b0.png")
    changed, _ = pipeline.build_train_data(c)
    with pytest.raises(DataError, match="num_examples 7 -> 6"):
        changed.check_state(*state)
    with pytest.raises(DataError, match="extra data streams"):
        changed.check_state(state[0], {})


def test_extra_stream_images_are_scaled_in_the_train_step():
    from gendl.data import transforms

    batch = {
        "image": np.zeros((1, 2, 3, 3, 1), np.uint8),
        "b/image": np.full((1, 2, 3, 3, 3), 255, np.uint8),
    }
    scaled = transforms.scale_stream_images(batch)
    assert set(scaled) == {"b/image"} and float(scaled["b/image"].max()) == 1.0


def test_arrays_source_from_an_npz_file_per_split(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(
        path,
        **{
            "train/image": np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2, 1),
            "train/label": np.array([0, 1, 2, 1, 0]),
            "test/image": np.zeros((2, 2, 2, 1), np.uint8),
            "test/label": np.array([0, 1]),
        },
    )
    cfg = ml_collections.ConfigDict(dict(source="arrays", path=str(path)))
    src = sources.build(cfg, "train")
    assert len(src) == 5 and src.spec.num_classes == 3
    out = src.read(np.array([4, 1]), None)
    np.testing.assert_array_equal(out["label"], [0, 1])
    assert out["label"].dtype == np.int32
    assert len(sources.build(cfg, "test")) == 2


def test_tfds_catalog_without_tensorflow_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else real(n, *a)
    )
    cfg = ml_collections.ConfigDict(dict(source="tfds_catalog", name="celeb_a"))
    with pytest.raises(DataError, match=r"pip install -e '\.\[tfds\]'") as err:
        sources.build(cfg, "train")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="needs TensorFlow"):
        catalog.CatalogSource("mnist", "train")


def test_unknown_source_is_a_config_error():
    with pytest.raises(ConfigError, match="tfds_prepared"):
        sources.build(ml_collections.ConfigDict(dict(source="hdf5")), "train")


# --- the emoji DCGAN -----------------------------------------------------------------------------


def _emoji_config(manual_dir):
    c = config_lib.sibling_config(os.path.join(ROOT, "configs", "dcgan.py"), "dcgan", "emoji,smoke")
    c.data.manual_dir = str(manual_dir)
    c.total_steps = 2
    c.batch_size = 4
    c.log.sample_every_steps = 2
    c.checkpoint.every_steps = 2
    return c


def test_emoji_dcgan_smoke_trains_on_the_real_folder(tmp_path):
    manual_dir = os.environ.get("GENDL_MANUAL_DIR")
    if not manual_dir or not os.path.isdir(os.path.join(manual_dir, "emoji", "twitter")):
        pytest.skip("GENDL_MANUAL_DIR/emoji/twitter is not available.")
    batches, spec = pipeline.build_train_data(_emoji_config(manual_dir))
    assert spec.image_shape == (64, 64, 3)
    assert 2900 < spec.num_examples < 3300  # ~90% of 3,433
    batch = batches.get(0)
    assert batch["image"].shape == (1, 4, 64, 64, 3) and batch["image"].dtype == np.uint8
    assert loop.train(_emoji_config(manual_dir), str(tmp_path / "run"))["step"] == 2


def test_emoji_dcgan_smoke_trains_with_an_extra_stream_and_resumes_it(tmp_path):
    # The emoji smoke variant through gendl.training.loop.train on a fake emoji folder, with
    # the other style as an extra stream (one run compiles for both checks).
    for i in range(10):
        _write(tmp_path / "emoji" / "twitter" / f"{i:04x}.png", _pattern(64, 64, 4, i))
        if i < 6:
            _write(tmp_path / "emoji" / "google" / f"{i:04x}.png", _pattern(64, 64, 4, 50 + i))
    c = _emoji_config(tmp_path)
    c.data.test_fraction = 0.0
    c.data.streams.b = ml_collections.ConfigDict(dict(path="{manual_dir}/emoji/google"))
    workdir = str(tmp_path / "run")
    assert loop.train(c, workdir)["step"] == 2
    assert os.path.exists(os.path.join(workdir, "samples", "samples_00000002.png"))
    with open(os.path.join(workdir, "checkpoints", "2", "meta", "metadata")) as f:
        meta = json.load(f)
    assert meta["streams"]["b"]["num_examples"] == 6 and meta["streams"]["b"]["next_batch"] == 2
    c.total_steps = 3
    assert loop.train(c, workdir)["step"] == 3  # resumed at step 2, both streams checked
    del c.data.streams["b"]
    with pytest.raises(DataError, match="extra data streams"):
        loop.train(c, workdir)


def test_eval_data_is_the_test_split_of_a_stream(tmp_path):
    for i in range(40):
        _write(tmp_path / "A" / f"img_{i:04d}.png", _pattern(2, 2, 3, i))
        _write(tmp_path / "B" / f"img_{i:04d}.png", _pattern(2, 2, 3, i))
    c = _data_config(source="folder", path=str(tmp_path / "A"))
    c.data.streams.b = ml_collections.ConfigDict(dict(path=str(tmp_path / "B")))
    main, b = pipeline.build_eval_data(c, "test"), pipeline.build_eval_data(c, "test", "b")
    # img_0004, 0005, 0009, 0013, 0015, 0026 are in the 10% test split (see the hash test).
    assert main.keys == b.keys == [f"img_{i:04d}" for i in (4, 5, 9, 13, 15, 26)]
    with pytest.raises(ConfigError, match="no data stream 'c'"):
        pipeline.build_eval_data(c, "test", "c")


class _FakeCatalogData:
    """What tfds.data_source returns: random access to decoded records, and the info."""

    def __init__(self, n):
        import tensorflow_datasets as tfds

        self.records = [
            {"image": _pattern(6, 6, 3, i), "label": np.int64(i % 3), "id": f"x{i}".encode()}
            for i in range(n)
        ]
        self.dataset_info = type(
            "Info", (), {"features": {"label": tfds.features.ClassLabel(num_classes=3)}}
        )()

    def __len__(self):
        return len(self.records)

    def __getitems__(self, keys):
        return [self.records[k] for k in keys]


def test_tfds_catalog_records_become_batches_of_numeric_features(monkeypatch):
    import importlib.util

    import tensorflow_datasets as tfds

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: object() if n == "tensorflow" else real(n, *a)
    )
    opened = {}

    def data_source(name, *, split, data_dir):
        opened.update(name=name, split=split)
        return _FakeCatalogData(5)

    monkeypatch.setattr(tfds, "data_source", data_source)
    cfg = ml_collections.ConfigDict(dict(source="tfds_catalog", name="x", ops=("center_crop:4",)))
    src = sources.build(cfg, "test")
    assert opened == {"name": "x", "split": "test"} and len(src) == 5
    assert src.spec.num_classes == 3 and set(src.spec.features) == {"image", "label"}
    batch = src.read(np.array([[4, 1]]), np.random.default_rng(0))
    np.testing.assert_array_equal(batch["image"][0, 0], _pattern(6, 6, 3, 4)[1:5, 1:5])
    np.testing.assert_array_equal(batch["label"], [[1, 1]])
    assert batch["label"].dtype == np.int32


def test_in_memory_main_stream_gives_the_batches_of_the_array_iterator():
    from gendl.data.sampler import BatchIterator, BatchSampler
    from gendl.data.sources.arrays import ArraySource

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 3, 3, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, 50).astype(np.int64)  # stored as int64, served as int32
    old = BatchIterator(images, labels.astype(np.int32), BatchSampler(50, 8, seed=3))
    new = pipeline.Stream(
        "", ArraySource({"image": images, "label": labels}), BatchSampler(50, 8, seed=3), 3
    )
    for k in (0, 5, 6, 13):
        a, b = old.get(k, 3), new.get(k, 3)
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].dtype == b[name].dtype
            np.testing.assert_array_equal(a[name], b[name])


def test_folder_files_are_recorded_and_a_resume_on_changed_files_warns(tmp_path, caplog):
    from gendl.data import manifest

    root = image_fixtures.write_paired_emoji(str(tmp_path / "data"), n=12, size=8)
    c = config_lib.base_config()
    c.data.source = "paired_folders"
    c.data.paths = (f"{root}/google", f"{root}/twitter")
    c.data.names = ("a", "b")
    c.batch_size = 2
    batches, _ = pipeline.build_train_data(c)
    files = manifest.of_batches(batches)["main"]
    assert len(files) == 2 * len(batches.main.source)  # both images of every train pair
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    manifest.check_and_record(workdir, manifest.of_batches(batches), resumed=False)
    changed = sorted(files)[0]
    with open(changed, "ab") as f:
        f.write(b"\0")  # one byte more: another file to the hash, the same image to a decoder
    with caplog.at_level("WARNING"):
        manifest.check_and_record(workdir, manifest.of_batches(batches), resumed=True)
    warned = [r.getMessage() for r in caplog.records if "differ from those" in r.getMessage()]
    assert len(warned) == 1 and "1 changed, 0 added, 0 removed" in warned[0]
    assert changed in warned[0]
    caplog.clear()  # the files as they are now were recorded: the next resume says nothing
    with caplog.at_level("WARNING"):
        manifest.check_and_record(workdir, manifest.of_batches(batches), resumed=True)
    assert not [r for r in caplog.records if "differ from those" in r.getMessage()]
    record = json.load(open(os.path.join(workdir, manifest.FILENAME)))
    assert record["main"][changed] == manifest.sha256(changed)


def test_kept_decodes_give_the_same_batches_as_decoding_every_read(tmp_path):
    # The fast path (fixed ops once per file, kept in memory) against the plain one (decode
    # and every op per read, cache_bytes=0), over three passes with random crops and flips.
    _paired_folders(tmp_path, 6)
    folders = {"a": tmp_path / "google", "b": tmp_path / "twitter"}
    ops = ("alpha_white", "resize:10", "random_crop:7", "random_flip", "mutate:5")
    kept = folder.FolderSource(folders, test_fraction=0.0, ops=ops)
    plain = folder.FolderSource(folders, test_fraction=0.0, ops=ops, cache_bytes=0)
    assert ops_lib.fixed_prefix(ops) == 2 and ops_lib.fixed_prefix(("grey",)) == 1
    for k in range(3):
        index = np.random.default_rng(k).permutation(6)[:4]
        a = kept.read(index, np.random.default_rng([k, 1]))
        b = plain.read(index, np.random.default_rng([k, 1]))
        for name in ("a", "b"):
            np.testing.assert_array_equal(a[name], b[name])
    assert len(kept._cache) == 6 and not plain._cache


def test_the_kept_decodes_stay_within_their_budget(tmp_path):
    _paired_folders(tmp_path, 6)  # 8x8x3 per image: 384 bytes per pair
    src = folder.FolderSource(
        {"a": tmp_path / "google", "b": tmp_path / "twitter"},
        test_fraction=0.0,
        ops=("random_flip",),
        cache_bytes=1000,
    )
    first = src.read(np.arange(6), np.random.default_rng(0))
    assert len(src._cache) == 2  # two pairs fit in 1,000 bytes, the rest is decoded per read
    again = src.read(np.arange(6), np.random.default_rng(0))
    np.testing.assert_array_equal(first["a"], again["a"])
