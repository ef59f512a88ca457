"""The melody evaluator (config.evals.<name>.type = "melody"): MusicVAE's test metrics and
pictures, for any objective with the predict functions in NEEDS (gendl.objectives.music_vae).

Scalars, on the first `num_examples` test windows spread evenly over the test split:
  elbo, reconstruction_nats, kl_nats (one posterior sample per melody), accuracy_teacher_forced
  and accuracy_sampled (the share of steps whose token the decoder gets right from the
  posterior mean, fed the true previous tokens, or its own greedy outputs), the same two
  over note onsets only (onset_accuracy_*) beside no_event_share (what a decoder that never
  starts a note scores in step accuracy), and on
  `num_samples` prior samples the statistics of gendl.music.statistics against the test
  melodies. Pictures (piano rolls, to TensorBoard and samples/): prior samples, test melodies
  beside their reconstructions, and a spherical interpolation (num_pictures steps) from the
  first to the last of those test melodies.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.data import pipeline
from gendl.evaluation import predict as predict_lib
from gendl.monitoring import figures
from gendl.monitoring import images as images_lib
from gendl.music import pianoroll, statistics


class Melody:
    NEEDS = ("melody_scores", "sample", "sample_noise", "encode", "decode", "reconstruct")

    def __init__(self, exp, cfg):
        fns = predict_lib.of(exp).require("melody evaluator", *self.NEEDS)
        scores, sample, self.sample_noise, encode, decode, _ = fns
        self._scores, self._sample = jax.jit(scores), jax.jit(sample)
        # Reconstructions and the interpolation reuse one encode and one decode program (the
        # interpolation has as many steps as there are pictures): compiling is most of an
        # evaluation's time on a CPU.
        self._encode, self._decode = jax.jit(encode), jax.jit(decode)
        source = pipeline.build_eval_data(exp.config, "test")
        n = min(int(cfg.get("num_examples", 2048)), len(source))
        index = np.linspace(0, len(source) - 1, n).round().astype(np.int64)
        self.tokens = source.read(index, None)["tokens"].astype(np.int32)
        self.batch_size = int(cfg.get("batch_size", 256))
        self.num_samples = int(cfg.get("num_samples", 512))
        self.num_pictures = int(cfg.get("num_pictures", 8))
        self.seed = int(cfg.get("seed", 0))

    def run(self, variables):
        values = self._test_scores(variables)
        key = jax.random.key(self.seed)
        samples = np.asarray(self._sample(variables, self.sample_noise(key, self.num_samples)))
        values.update(
            {f"samples/{k}": v for k, v in statistics.compare(samples, self.tokens).items()}
        )
        return values, self._pictures(variables, samples)

    def _test_scores(self, variables):
        sums, n = {}, len(self.tokens)
        for i, start in enumerate(range(0, n, self.batch_size)):
            x = self.tokens[start : start + self.batch_size]
            valid = len(x)
            if valid < self.batch_size:  # one compiled shape: pad with the last melody
                x = np.concatenate([x, np.repeat(x[-1:], self.batch_size - valid, 0)])
            rng = jax.random.fold_in(jax.random.key(self.seed), i)
            out = jax.device_get(self._scores(variables, x, rng))
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(np.sum(np.asarray(v)[:valid]))
        return {k: v / n for k, v in sums.items()}

    def _pictures(self, variables, samples):
        k = min(self.num_pictures, len(self.tokens))
        pick = np.linspace(0, len(self.tokens) - 1, k).round().astype(np.int64)
        originals = self.tokens[pick]
        codes = self._encode(variables, originals)
        recons = np.asarray(self._decode(variables, codes))
        pairs = np.stack([originals, recons], 1).reshape(-1, originals.shape[1])
        path = figures.slerp(codes[0], codes[-1], k)  # from the first to the last original
        between = np.asarray(self._decode(variables, jnp.asarray(path)))
        return {
            "samples": images_lib.make_grid(pianoroll.draw_all(samples[: self.num_pictures]), 2),
            "reconstructions": images_lib.make_grid(pianoroll.draw_all(pairs), 2),
            "interpolation": images_lib.make_grid(pianoroll.draw_all(between), 1),
        }
