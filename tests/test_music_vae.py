"""MusicVAE: tokens, MIDI, the melody builder and its tune-level split, the loss schedules
against hand values, both decoders, and one smoke run serving the commands."""

import json
import math
import os

import jax
import jax.numpy as jnp
import melody_fixtures
import ml_collections
import numpy as np
import pytest

from gendl import config as config_lib
from gendl.data import melody_builder, sources
from gendl.data.errors import DataError
from gendl.data.spec import DataSpec, Feature
from gendl.evaluation import melody_files, predict, runs
from gendl.models import music_vae as models
from gendl.music import corpus, midi, statistics
from gendl.music import tokens as tok
from gendl.objectives import music_vae as objective
from gendl.training import loop
from gendl.training import state as state_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = tok.Note


# --- tokens and MIDI


def test_tokens_follow_magentas_convention():
    # C4 for a quarter, rest, E4 and F4 as eighths back to back, G4 held to the end.
    notes = [N(0, 4, 60), N(8, 10, 64), N(10, 12, 65), N(12, 16, 67)]
    tokens = tok.encode(notes, 0, 16)
    expected = np.zeros(16, np.uint8)
    expected[[0, 4, 8, 10, 12]] = [60 - 21 + 2, 1, 64 - 19, 65 - 19, 67 - 19]
    np.testing.assert_array_equal(tokens, expected)
    assert tok.NUM_CLASSES == 90 and tok.pitch_token(21) == 2 and tok.pitch_token(108) == 89
    assert tok.decode(tokens) == notes
    # A window starting mid-note: the held note is not restarted, its end is a note-off.
    np.testing.assert_array_equal(tok.encode([N(0, 6, 60)], 4, 4), [0, 0, 1, 0])


def test_monophonic_keeps_the_top_line():
    notes = [N(0, 8, 60), N(0, 4, 67), N(2, 6, 62), N(6, 6, 70)]
    assert tok.monophonic(notes) == [N(0, 2, 67), N(2, 6, 62)]


def test_tokens_midi_tokens_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        notes, t = [], 0
        while t < 30:
            length = int(rng.integers(1, 6))
            if rng.random() < 0.8:
                notes.append(N(t, t + length, int(rng.integers(40, 90))))
            t += length + int(rng.integers(0, 2))
        tokens = tok.encode(notes, 0, 32)
        path = midi.write_tokens(tmp_path / f"m{i}.mid", tokens)
        np.testing.assert_array_equal(midi.read_tokens(path, 32), tokens)


@pytest.mark.parametrize("content", [b"hello, not a midi file", b"MThd\x00\x00\x00\x06\x00"])
def test_non_midi_input_is_one_paragraph(tmp_path, content):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        midi.read(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message and "MIDI" in message


# --- corpus and builder


def test_corpus_tunes_parse_to_windows():
    refs = corpus.corpus_tunes()
    assert {r.tune_id.split("/")[0] for r in refs[:4]} == set(corpus.COLLECTIONS)
    kept = skipped = 0
    for ref in refs[:8]:
        try:
            notes = corpus.melody(corpus.parse(ref))
        except corpus.SkippedTune as why:
            skipped += 1
            assert str(why)
            continue
        kept += 1
        for start, tokens in corpus.windows(notes, 2):
            assert start % 16 == 0 and tokens.shape == (32,) and tokens.max() < 90
            assert tok.onsets(tokens) >= 2
    assert kept >= 2


def _quarters(first_bar, bars, pitch=60):
    """Quarter notes (4 steps) filling `bars` 4/4 bars from bar `first_bar`."""
    return [N(s, s + 4, pitch + s % 5) for s in range(16 * first_bar, 16 * (first_bar + bars), 4)]


def test_windows_hold_no_bar_long_silence():
    # As magenta's extractor (gap_bars=1, whole windows only): a 10-bar tune has no 16-bar
    # window (it used to give one, 6 bars of it silence), a tune ending a beat short of its
    # last bar still has its window, and no window spans a rest of a whole bar.
    assert corpus.windows(_quarters(0, 10), 16) == []
    short_end = _quarters(0, 16)[:-1]  # ends at step 252
    assert [s for s, _ in corpus.windows(short_end, 16)] == [0]
    gapped = _quarters(0, 3) + _quarters(4, 3)  # bar 3 is a rest
    assert [s for s, _ in corpus.windows(gapped, 2)] == [0, 16, 64, 80]
    assert corpus.longest_silence(gapped, 0, 112) == 16
    assert corpus.longest_silence(gapped, 64, 64) == 16  # past the tune's end
    held = [N(0, 64, 60), N(64, 96, 62)]  # a note held for 4 bars is not a silence
    assert [s for s, _ in corpus.windows(held, 2)] == []  # (fewer than 2 onsets each)
    assert corpus.longest_silence(held, 0, 96) == 0


def test_builder_on_written_abc_splits_by_tune(tmp_path):
    folder = melody_fixtures.write_melodies(str(tmp_path / "manual"))
    numbers = melody_fixtures.tune_numbers()
    shares = {x: corpus.test_share(f"manual/{melody_fixtures.FILE}#{x}") for x in numbers}
    cfg = ml_collections.ConfigDict(
        dict(
            source="melodies",
            bars=2,
            max_tunes=0,
            test_fraction=0.1,
            manual_dir=str(tmp_path / "manual"),
            data_dir=str(tmp_path / "tfds"),
        )
    )
    train, test = sources.build(cfg, "train"), sources.build(cfg, "test")
    assert train.spec.features["tokens"] == Feature((32,), "uint8")
    # Tune index i is the i-th tune of the file; the 6/8 tune (the last) is skipped.
    test_tunes = set(test.arrays["tune"].tolist())
    train_tunes = set(train.arrays["tune"].tolist())
    assert not test_tunes & train_tunes
    assert test_tunes == {i for i, x in enumerate(numbers) if shares[x] < 0.1}
    assert train_tunes | test_tunes == set(range(len(numbers)))
    # 6 bars of 4/4 with at least 2 onsets per bar: 5 two-bar windows (hop one bar) per tune.
    assert len(train.arrays["tokens"]) + len(test.arrays["tokens"]) == 5 * len(numbers)
    # The first window of the first tune, by hand from the ABC text.
    first = melody_fixtures.abc_tune(numbers[0]).splitlines()[5].split(" | ")[:2]
    expected = tok.encode(_abc_notes("".join(first)), 0, 32)
    rows = train if numbers[0] in [x for x in numbers if shares[x] >= 0.1] else test
    np.testing.assert_array_equal(rows.arrays["tokens"][0], expected)
    assert os.path.isdir(folder)


def _abc_notes(letters):
    """Eighth notes (2 steps) of ABC letters in C major from middle C; z is a rest."""
    pitch = {"C": 60, "D": 62, "E": 64, "F": 65, "G": 67, "A": 69, "B": 71}
    pitch.update({k.lower(): v + 12 for k, v in pitch.items()})
    return [N(2 * i, 2 * i + 2, pitch[c]) for i, c in enumerate(letters) if c != "z"]


def test_builder_config_names_its_cache():
    a = melody_builder.builder_config(2, 100, 0.1, "corpus").name
    assert a != melody_builder.builder_config(16, 100, 0.1, "corpus").name
    assert a != melody_builder.builder_config(2, 0, 0.1, "corpus").name
    assert a != melody_builder.builder_config(2, 100, 0.1, "manual").name


# --- losses and schedules against hand values


def test_beta_free_bits_and_kl():
    assert float(objective.beta(0, 0.2, 0.99999)) == 0.0
    np.testing.assert_allclose(objective.beta(1, 0.2, 0.99999), 0.2 * 1e-5, rtol=1e-3)
    np.testing.assert_allclose(
        objective.beta(100_000, 0.2, 0.99999), 0.2 * (1 - math.exp(-1)), 1e-4
    )
    np.testing.assert_allclose(objective.beta(5, 0.2, 0.0), 0.2)  # magenta's default rate 0
    kl = jnp.array([1.0, 10.0, 2 * math.log(2.0)])
    np.testing.assert_allclose(
        objective.free_bits_cost(kl, 2.0), [0.0, 10.0 - 2 * math.log(2.0), 0.0], atol=1e-6
    )
    # KL(N(1, 2^2) || N(0, 1)) = (1 + 4 - 1) / 2 - ln 2, per dimension.
    mu, sigma = jnp.ones((1, 3)), 2 * jnp.ones((1, 3))
    np.testing.assert_allclose(objective.kl_normal(mu, sigma), [3 * (2 - math.log(2))], 1e-6)


def test_scheduled_sampling_probability():
    k = 1000.0
    p = objective.sampling_probability
    np.testing.assert_allclose(p(0, "inverse_sigmoid", k), 1 / (k + 1), rtol=1e-5)
    np.testing.assert_allclose(p(k * math.log(k), "inverse_sigmoid", k), 0.5, rtol=1e-4)
    assert float(p(10**6, "inverse_sigmoid", k)) == 1.0
    np.testing.assert_allclose(p(2, "exponential", 0.5), 0.75)
    np.testing.assert_allclose(p(7, "constant", 0.25), 0.25)
    with pytest.raises(Exception, match="sampling_schedule"):
        p(0, "linear", 1.0)


def test_exponential_learning_rate():
    cfg = ml_collections.ConfigDict(
        dict(
            learning_rate=1e-3, schedule="exponential", decay_rate=0.9999, final_learning_rate=1e-5
        )
    )
    lr = state_lib.learning_rate(cfg, 100)
    np.testing.assert_allclose(lr(0), 1e-3, rtol=1e-6)
    np.testing.assert_allclose(lr(10_000), (1e-3 - 1e-5) * 0.9999**10_000 + 1e-5, rtol=1e-5)


def test_transposition_stays_in_range():
    x = jnp.array([[2, 0, 50, 1], [89, 0, 60, 0], [40, 0, 0, 1]])
    out = objective.transpose(x, jnp.array([3, 3, -5]))
    # Row 0 holds A0 (token 2): a shift down would leave the range, up is fine.
    np.testing.assert_array_equal(out, [[5, 0, 53, 1], [89, 0, 60, 0], [35, 0, 0, 1]])
    np.testing.assert_array_equal(objective.transpose(x[:1], jnp.array([-1]))[0], x[0])


def test_statistics_by_hand():
    # C major scale quarter notes: all in key; one F#: 7 of 8.
    scale = tok.encode([N(4 * i, 4 * i + 4, p) for i, p in enumerate([60, 62, 64, 65])], 0, 16)
    sharp = tok.encode([N(0, 2, 66), N(2, 4, 60)], 0, 16)
    assert statistics.in_key_share(np.stack([scale])) == 1.0
    np.testing.assert_allclose(statistics.note_length_histogram([scale])[3], 1.0)  # length 4
    assert statistics.total_variation([1, 0], [0, 1]) == 1.0
    np.testing.assert_allclose(statistics.pitch_class_histogram([sharp])[[0, 6]], [0.5, 0.5])


# --- networks


def _spec(length):
    return DataSpec({"tokens": Feature((length,), "uint8")}, 1)


@pytest.mark.parametrize(
    "hierarchical,autoregressive", [(False, True), (True, True), (True, False)]
)
def test_decoder_shapes_and_unrolled_equals_scan(hierarchical, autoregressive):
    length = 32  # hierarchical: two bars of 16 steps
    cfg = ml_collections.ConfigDict(
        dict(
            encoder=(8,),
            decoder=(8, 8),
            latent=4,
            conductor=(6,) if hierarchical else (),
            bar_steps=16,
            autoregressive=autoregressive,
            unroll=4,  # the configs' factor: XLA:CPU unrolls unroll=1 itself, compiling slowly
        )
    )
    nets = models.build(cfg, _spec(length))
    x = jax.random.randint(jax.random.key(0), (3, length), 0, 90)
    enc = jax.jit(nets["encoder"].init)(jax.random.key(1), x)
    mu, sigma = jax.jit(nets["encoder"].apply)(enc, x)
    assert mu.shape == sigma.shape == (3, 4) and bool(jnp.all(sigma > 0))
    use = jnp.zeros((3, length), bool)
    g = jnp.zeros((3, length, 90))
    dec = jax.jit(nets["decoder"].init)(jax.random.key(2), mu, x, use, g)
    logits, chosen = jax.jit(nets["decoder"].apply)(dec, mu, x, use, g)
    assert logits.shape == (3, length, 90) and chosen.shape == (3, length)
    np.testing.assert_array_equal(chosen, jnp.argmax(logits, -1))
    if not hierarchical:  # the unroll factor changes the program, not the result
        cfg.unroll = 0
        unrolled = jax.jit(models.build(cfg, _spec(length))["decoder"].apply)(dec, mu, x, use, g)
        np.testing.assert_allclose(unrolled[0], logits, atol=1e-5)
    # Teacher forcing: step t sees tokens < t only; the token that ends bar 1 reaches bar 2's
    # first step (magenta's hierdec keeps the bar decoder autoregressive across bar lines).
    changed = x.at[:, 15].set((x[:, 15] + 7) % 90)
    other, _ = jax.jit(nets["decoder"].apply)(dec, mu, changed, use, g)
    np.testing.assert_array_equal(other[:, :16], logits[:, :16])
    assert bool(jnp.any(other[:, 16] != logits[:, 16])) == autoregressive
    if hierarchical:
        assert "conductor0_wx" in dec["params"]
    assert dec["params"]["dec0_wx"].shape[0] == (6 if hierarchical else 4) + 90 * autoregressive


# --- one smoke run for the commands


def _config(arg):
    """configs/music_vae.py's get_config(arg)."""
    return config_lib.sibling_config(f"{ROOT}/configs/music_vae.py", "music_vae", arg)


@pytest.fixture(scope="module")
def trained(fake_data, tmp_path_factory):
    """configs/music_vae.py:smoke on the fixture tunes, as tests/test_configs.py runs it."""
    c = _config("smoke")
    c.total_steps = 3
    c.batch_size = 8
    c.log.every_steps = 1
    c.log.sample_every_steps = 3
    c.log.num_samples = 4
    c.data.manual_dir = fake_data["manual_dir"]
    c.data.data_dir = fake_data["data_dir"]
    workdir = str(tmp_path_factory.mktemp("music") / "run")
    loop.train(c, workdir)
    return workdir


def test_smoke_run_writes_metrics_and_piano_rolls(trained):
    with open(os.path.join(trained, "metrics.jsonl")) as f:
        last = [json.loads(line) for line in f][-1]
    for key in (
        "eval/melody/accuracy_teacher_forced",
        "eval/melody/accuracy_sampled",
        "eval/melody/elbo",
        "eval/melody/kl_nats",
        "eval/melody/samples/pitch_class_tv",
        "eval/melody/onset_accuracy_sampled",
        "eval/melody/no_event_share",
    ):
        assert np.isfinite(last[key]), key
    assert 0.0 <= last["eval/melody/accuracy_sampled"] <= 1.0
    assert 0.0 < last["eval/melody/no_event_share"] < 1.0
    for kind in ("samples", "reconstructions", "interpolation"):
        assert os.path.exists(os.path.join(trained, "samples", f"melody_{kind}_00000003.png"))


def test_fast_beta_variant_changes_only_the_beta_rate():
    base, fast = _config(None), _config("fast_beta")
    assert fast.objective.beta_rate == 0.999 and base.objective.beta_rate == 0.99999
    with fast.unlocked():
        fast.objective.beta_rate = base.objective.beta_rate
    assert fast.to_dict() == base.to_dict()


def test_onset_accuracy_counts_note_starts_only():
    x = jnp.array([[60, 0, 0, 1, 62, 0], [0, 0, 0, 0, 0, 0]])
    correct = jnp.array([[True, True, False, False, False, True]] * 2)
    # Row 0: onsets at steps 0 (right) and 4 (wrong); row 1 has none (scored 0, not NaN).
    np.testing.assert_allclose(objective._onset_mean(correct, x), [0.5, 0.0])


def test_sample_interpolate_and_reconstruct_files(trained, tmp_path):
    tokens = melody_files.export_samples(trained, 3, str(tmp_path / "s"))
    assert tokens.shape == (3, 32) and tokens.max() < 90
    for i in range(3):  # the MIDI files hold the tokens
        path = tmp_path / "s" / f"sample_{i:03d}.mid"
        np.testing.assert_array_equal(
            midi.read_tokens(path, 32), tok.encode(tok.decode(tokens[i]), 0, 32)
        )
    np.testing.assert_array_equal(np.load(tmp_path / "s" / "sample.npy"), tokens)
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    test = sources.build(runs.load_config(trained).data, "test").arrays["tokens"]
    midi.write_tokens(a, test[0])
    midi.write_tokens(b, test[-1])
    path = melody_files.interpolate_files(trained, str(a), str(b), 5, str(tmp_path / "i"))
    assert path.shape == (5, 32)
    # The ends are the reconstructions of the inputs, through the run's own predict functions.
    run = runs.load_run(trained)
    (reconstruct,) = predict.of(run.exp).require("test", "reconstruct")
    x = np.stack([midi.read_tokens(a, 32), midi.read_tokens(b, 32)]).astype(np.int32)
    ends = np.asarray(jax.jit(reconstruct)(run.state.variables(), x))
    np.testing.assert_array_equal(path[[0, -1]], ends)
    recon = melody_files.interpolate_files(trained, str(a), None, 8, str(tmp_path / "r"))
    np.testing.assert_array_equal(recon[0], ends[0])
    assert os.path.exists(tmp_path / "r" / "reconstruction.png")
    bad = tmp_path / "bad.mid"
    bad.write_text("not midi")
    with pytest.raises(DataError, match="not a readable MIDI file"):
        melody_files.interpolate_files(trained, str(a), str(bad), 4, str(tmp_path / "x"))
    assert not os.path.exists(tmp_path / "x")
