"""Evaluators that run during training (config.evals) and from `python -m gendl.evaluate`.

Each evaluator is built lazily from `config.evals.<name>` (its `type` picks the class) and
returns (scalars, images) for the current parameters. They read the dataset's test split and
see the model only through the predict functions its class names in NEEDS (from the
objective's `predictors()`, gendl.evaluation.predict), so any model family that provides
those gets them, and a config asking for one its objective lacks fails before training.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gendl.config import ConfigError
from gendl.data import pipeline, source, transforms
from gendl.evaluation import (
    anomaly,
    anomaly_scores,
    extractors,
    likelihood,
    reference,
    sample_quality,
    sampling,
)
from gendl.evaluation import predict as predict_lib
from gendl.evaluation import prerequisites as prerequisites_lib
from gendl.evaluation import runs as runs_lib
from gendl.evaluation.generator_pictures import GeneratorPictures
from gendl.evaluation.inpainting import Inpainting
from gendl.evaluation.melody import Melody
from gendl.evaluation.pair_agreement import PairAgreement
from gendl.evaluation.style_grids import StyleMixing, TruncationGrid
from gendl.evaluation.super_resolution import SuperResolution
from gendl.evaluation.translation import Translation
from gendl.monitoring import figures
from gendl.monitoring import images as images_lib
from gendl.parallel import mesh as mesh_lib


@functools.lru_cache(maxsize=4)
def _test_split(name, manual_dir, data_dir):
    return source.load_split(name, "test", manual_dir=manual_dir or None, data_dir=data_dir or None)


def _fixed_binarization(images, seed):
    """One fixed Bernoulli sample of the test set (the protocol's 'one fixed binarisation')."""
    u = np.random.default_rng(seed).random(images.shape, dtype=np.float32)
    return (u < images.astype(np.float32) / 255.0).astype(np.float32)


def _test_arrays(config):
    """(images, labels) of the test split: gendl's prepared datasets from the in-memory cache,
    other sources (e.g. labelled image folders) read whole through the data pipeline."""
    data = config.data
    if (data.get("source") or "tfds_prepared") == "tfds_prepared":
        return _test_split(data.name, data.manual_dir, data.data_dir)
    test = pipeline.build_eval_data(config, "test")
    if "label" not in test.spec.features:
        raise ConfigError(
            f"This evaluator reads labelled test images, but the test data of "
            f"config.data.source={data.source!r} has only {sorted(test.spec.features)}. Use a "
            "labelled source (e.g. 'labelled_folders' or a 'folder' of class sub-folders)."
        )
    batch = test.read(np.arange(len(test)), np.random.default_rng(0))
    return batch["image"], batch["label"]


class _TestData:
    def __init__(self, exp, cfg):
        c = exp.config
        images, labels = _test_arrays(c)
        n = min(int(cfg.get("num_examples", len(images))), len(images))
        self.images, self.labels = images[:n], labels[:n].astype(np.int32)
        binarize = c.data.get("binarize", "")
        if binarize == "dynamic":
            self.x = _fixed_binarization(self.images, int(cfg.get("seed", 0)))
        else:  # the train step's own transform, so test inputs match training inputs
            self.x = np.asarray(transforms.prepare_images(self.images, binarize=binarize))
        self.batch_size = int(cfg.get("batch_size", 200))
        if self.batch_size % exp.mesh.size:
            raise ConfigError(
                f"Evaluation batch_size={self.batch_size} must be a multiple of the number of "
                f"devices ({exp.mesh.size})."
            )
        self.mesh = exp.mesh

    def batches(self):
        """Batches on the mesh; the last one is padded and comes with its valid count."""
        return _batches(self.mesh, self.batch_size, self.x, self.labels)


def _batches(mesh, batch_size, inputs, labels):
    sharding = mesh_lib.batch_sharding(mesh)
    for i in range(0, len(inputs), batch_size):
        x, y = inputs[i : i + batch_size], labels[i : i + batch_size]
        valid = len(x)
        if valid < batch_size:
            pad = batch_size - valid
            x = np.concatenate([x, np.repeat(x[-1:], pad, 0)])
            y = np.concatenate([y, np.repeat(y[-1:], pad, 0)])
        yield jax.device_put(x, sharding), jax.device_put(y, sharding), valid


class Likelihood:
    """Test ELBO and the importance-sampled NLL estimate -log p(x) in nats (Burda et al. 2015),
    k = num_samples importance samples per example, streamed in chunks to bound memory."""

    NEEDS = ("log_weights", "elbo")

    def __init__(self, exp, cfg):
        log_weights, elbo = predict_lib.of(exp).require("likelihood evaluator", *self.NEEDS)
        self.data = _TestData(exp, cfg)
        self.k = int(cfg.get("num_samples", 5000))
        chunk = int(cfg.get("chunk_size", 500))
        rep = mesh_lib.replicated(exp.mesh)

        def per_example(params, x, labels, rng):
            ll = likelihood.importance_sampled_log_likelihood(
                lambda p, x, r, n: log_weights(p, x, labels, r, n),
                params,
                x,
                rng,
                self.k,
                min(chunk, self.k),
            )
            return elbo(params, x, labels, jax.random.fold_in(rng, 1)), ll

        self._fn = jax.jit(per_example, out_shardings=(rep, rep))
        self.seed = int(cfg.get("seed", 0))

    def run(self, params):
        elbos, lls = [], []
        for i, (x, y, valid) in enumerate(self.data.batches()):
            rng = jax.random.fold_in(jax.random.key(self.seed), i)
            elbo, ll = jax.device_get(self._fn(params, x, y, rng))
            elbos.append(elbo[:valid])
            lls.append(ll[:valid])
        n = sum(len(e) for e in elbos)
        return {
            f"test_elbo_n{n}": float(np.mean(np.concatenate(elbos))),
            f"nll_k{self.k}_n{n}": float(-np.mean(np.concatenate(lls))),
        }, {}


class Reconstruction:
    """Reconstruction error of the test split through the encoder's mean code: BCE (nats per
    image), MSE per pixel and PSNR; plus a reconstruction grid."""

    NEEDS = ("reconstruct",)

    def __init__(self, exp, cfg):
        (reconstruct,) = predict_lib.of(exp).require("reconstruction evaluator", *self.NEEDS)
        self.data = _TestData(exp, cfg)
        self._fn = jax.jit(reconstruct, out_shardings=mesh_lib.replicated(exp.mesh))
        self.num_pictures = int(cfg.get("num_pictures", 32))

    def run(self, params):
        bce, mse, count, first = 0.0, 0.0, 0, None
        for x, y, valid in self.data.batches():
            r = np.asarray(jax.device_get(self._fn(params, x, y)))[:valid].reshape(valid, -1)
            t = np.asarray(jax.device_get(x))[:valid].reshape(valid, -1)
            if first is None:
                first = (t, r)
            p = np.clip(r, 1e-6, 1 - 1e-6)
            bce += float(np.sum(-(t * np.log(p) + (1 - t) * np.log(1 - p))))
            mse += float(np.sum((r - t) ** 2))
            count += valid
        pixels = first[0].shape[1]
        mse_pp = mse / (count * pixels)
        shape = (-1, *self.data.x.shape[1:])
        k = min(self.num_pictures, len(first[0]))
        grid = figures.reconstruction_grid(first[0][:k].reshape(shape), first[1][:k].reshape(shape))
        return {
            "bce": bce / count,
            "mse_per_pixel": mse_pp,
            "psnr": float(10 * np.log10(1.0 / max(mse_pp, 1e-12))),
        }, {"reconstructions": grid}


class Pictures:
    """Prior samples (one row per class for conditional models), latent interpolations between
    test images, and for 2-D latents the decoded manifold and a scatter of test codes.
    Decoding a code is `sample` (for a latent-variable model, the decoder's mean)."""

    NEEDS = ("sample", "sample_noise", "encode")

    def __init__(self, exp, cfg):
        predict = predict_lib.of(exp)
        self.sample, self.sample_noise, self.encode = predict.require(
            "pictures evaluator", *self.NEEDS
        )
        self.conditional = predict.num_classes is not None
        self.data = _TestData(exp, cfg)
        self.steps = int(cfg.get("interpolation_steps", 10))
        self.rows = int(cfg.get("interpolation_rows", 8))

    def _decode(self, params, code, labels):
        return self.sample(params, code, labels) if self.conditional else self.sample(params, code)

    def run(self, params):
        out = {}
        n = 100
        noise = self.sample_noise(jax.random.key(0), n)
        labels = jnp.repeat(jnp.arange(10), 10) if self.conditional else None
        samples = self._decode(params, noise, labels)
        out["prior_samples"] = images_lib.make_grid(np.asarray(samples), ncol=10)

        x = jnp.asarray(self.data.x[: 2 * self.rows])
        y = jnp.asarray(self.data.labels[: 2 * self.rows])
        code = self.encode(params, x, y)
        path = figures.slerp(code[: self.rows], code[self.rows :], self.steps)  # [steps, rows, d]
        path = jnp.swapaxes(path, 0, 1).reshape(self.rows * self.steps, -1)
        rows_y = jnp.repeat(y[: self.rows], self.steps)
        strip = np.asarray(self._decode(params, path, rows_y))
        out["interpolations"] = figures.interpolation_strip(
            strip.reshape(self.rows, self.steps, *strip.shape[1:])
        )

        if code.shape[-1] == 2 and not self.conditional:
            out["manifold"] = figures.manifold_grid(
                lambda z: np.asarray(self.sample(params, jnp.asarray(z)))
            )
            codes = []
            for xb, yb, valid in self.data.batches():
                codes.append(np.asarray(self.encode(params, xb, yb))[:valid])
            out["latent_scatter"] = figures.scatter_plot(np.concatenate(codes), self.data.labels)
        return {}, out


class Anomaly:
    """One-class anomaly detection: every test image gets each score named in `scores`
    (gendl.evaluation.anomaly_scores: the negative ELBO averaged over `num_samples` draws,
    or the reconstruction BCE of an autoencoder, and scores that correct it); the classes left
    out of training (config.data.exclude_labels) are the anomalies. Reports `auroc_<score>`.

    Scores with a reference use the NORMAL training images (the split the model trained on,
    held-out classes excluded; `num_reference` > 0: that many at random); `likelihood_ratio`
    also scores the test images with the run in `background_workdir` (trained on mutated
    normal images)."""

    NEEDS_ONE_OF = ("elbo", "reconstruct")

    def __init__(self, exp, cfg):
        predict = predict_lib.of(exp)
        predict.require_one_of("anomaly evaluator", *self.NEEDS_ONE_OF)
        self.scores = anomaly_scores.parse(cfg.get("scores", "neg_elbo"))
        self.needs = {q for s in self.scores for q in anomaly_scores.SCORES[s].needs}
        if self.needs & {"codes", "reference_codes"}:
            (encode,) = predict.require("anomaly evaluator's latent scores", "encode")
            self._encode = jax.jit(encode, out_shardings=mesh_lib.replicated(exp.mesh))
        self.data = _TestData(exp, cfg)
        held_out = cfg.get("held_out", None) or exp.config.data.exclude_labels
        if not held_out:
            raise ConfigError(
                "The anomaly evaluator needs anomalous classes: set config.data.exclude_labels "
                "(left out of training) or config.evals.<name>.held_out."
            )
        self.is_anomaly = np.isin(self.data.labels, np.asarray(held_out))
        if self.needs & {"reference_nll", "reference_images", "reference_codes"}:
            self.reference = _normal_training_inputs(
                exp.config, held_out, int(cfg.get("num_reference", 0))
            )
        self.cfg = cfg
        self._nll = jax.jit(
            _nll_function(predict, int(cfg.get("num_samples", 10))),
            out_shardings=mesh_lib.replicated(exp.mesh),
        )
        if "background_nll" in self.needs:
            self.background = _background(
                cfg.get("background_workdir", ""), exp, int(cfg.get("num_samples", 10))
            )

    def run(self, params):
        x, y = self.data.x, self.data.labels
        q = {"images": x}
        if self.needs & {"nll", "reference_nll"}:
            q["nll"] = self._per_example(self._nll, params, x, y, rng=True)
        if "reference_images" in self.needs:
            q["reference_images"] = self.reference[0]
        if "reference_nll" in self.needs:
            q["reference_nll"] = self._per_example(self._nll, params, *self.reference, rng=True)
        if "codes" in self.needs:
            q["codes"] = self._per_example(self._encode, params, x, y)
        if "reference_codes" in self.needs:
            q["reference_codes"] = self._per_example(self._encode, params, *self.reference)
        if "background_nll" in self.needs:
            fn, background_params = self.background
            q["background_nll"] = self._per_example(fn, background_params, x, y, rng=True)
        out = {}
        for name in self.scores:
            score = anomaly_scores.SCORES[name]
            options = {arg: type(d)(self.cfg.get(key, d)) for key, arg, d in score.options}
            values = score.fn(*[q[n] for n in score.needs], **options)
            out[f"auroc_{name}"] = anomaly.roc_auc(values, self.is_anomaly)
        return out, {}

    def _per_example(self, fn, params, x, y, rng=False):
        """fn over (x, y) in batches, numpy [n, ...]; `rng`: fn takes a key, fixed per batch."""
        out = []
        for i, (xb, yb, valid) in enumerate(_batches(self.data.mesh, self.data.batch_size, x, y)):
            key = (jax.random.fold_in(jax.random.key(0), i),) if rng else ()
            out.append(np.asarray(jax.device_get(fn(params, xb, yb, *key)))[:valid])
        return np.concatenate(out)


def _nll_function(predict, k):
    """Negative ELBO averaged over k draws (a VAE), else the reconstruction BCE (nats)."""
    elbo, reconstruct = predict.functions.get("elbo"), predict.functions.get("reconstruct")

    def nll(params, x, labels, rng):
        if elbo is not None:
            keys = jax.random.split(rng, k)
            return -jnp.mean(jnp.stack([elbo(params, x, labels, r) for r in keys]), 0)
        r = reconstruct(params, x, labels)
        p = jnp.clip(r, 1e-6, 1 - 1e-6).reshape(x.shape[0], -1)
        t = x.reshape(x.shape[0], -1)
        return -jnp.sum(t * jnp.log(p) + (1 - t) * jnp.log(1 - p), -1)

    return nll


def _normal_training_inputs(config, held_out, n):
    """(inputs, labels) of the training images of the normal classes (n > 0: n of them at
    random, seed 0), prepared as the test inputs are (one fixed binarisation, with its own
    seed, for dynamically binarised data)."""
    train = pipeline.build_eval_data(config, "train")
    if "label" not in train.spec.features:
        raise ConfigError(
            "The anomaly evaluator's reference scores need labelled training data (to leave "
            f"the held-out classes out), but config.data.source={config.data.source!r} has "
            f"only {sorted(train.spec.features)}."
        )
    rng = np.random.default_rng(0)
    batch = train.read(np.arange(len(train)), rng)
    normal = np.flatnonzero(~np.isin(batch["label"], np.asarray(held_out)))
    pick = normal if n <= 0 else np.sort(rng.choice(normal, min(n, len(normal)), replace=False))
    images, labels = batch["image"][pick], batch["label"][pick].astype(np.int32)
    if config.data.get("binarize", "") == "dynamic":
        return _fixed_binarization(images, 1), labels
    return np.asarray(transforms.prepare_images(images, binarize=config.data.binarize)), labels


def _background(workdir, exp, num_samples):
    """(nll function, parameters) of the background run for `likelihood_ratio`."""
    if not workdir:
        raise ConfigError(
            "The anomaly score 'likelihood_ratio' needs a background model: set "
            "config.evals.<name>.background_workdir to a run trained on mutated normal "
            "images (python -m gendl.anomaly --background_mutation_percent=20 trains one per "
            "class)."
        )
    run = runs_lib.load_run(workdir)
    predict = predict_lib.of(run.exp)
    predict.require("anomaly evaluator's background model", "elbo")
    fn = jax.jit(_nll_function(predict, num_samples), out_shardings=mesh_lib.replicated(exp.mesh))
    return fn, run.state.variables()


def _argmax_of(exp, user, name):
    """(variables, x) -> argmax of the predict function `name`'s logits, jitted, replicated."""
    (logits_of,) = predict_lib.of(exp).require(user, name)
    return jax.jit(
        lambda params, x: jnp.argmax(logits_of(params, x), -1),
        out_shardings=mesh_lib.replicated(exp.mesh),
    )


class Classification:
    """Test error and accuracy of a model that classifies (predict function
    `classify(variables, x)` -> logits): the semi-supervised GAN's discriminator, the
    feature-extractor classifier; on the first num_examples test images."""

    NEEDS = ("classify",)

    def __init__(self, exp, cfg):
        self._fn = _argmax_of(exp, "classification evaluator", *self.NEEDS)
        self.data = _TestData(exp, cfg)

    def run(self, params):
        wrong, count = 0, 0
        for x, y, valid in self.data.batches():
            pred = np.asarray(jax.device_get(self._fn(params, x)))[:valid]
            wrong += int(np.sum(pred != np.asarray(jax.device_get(y))[:valid]))
            count += valid
        return {
            f"test_error_n{count}": wrong / count,
            f"test_accuracy_n{count}": 1 - wrong / count,
        }, {}


class Clustering:
    """Accuracy of an unsupervised model's clusters as class labels on the test images: the
    predict function `cluster(variables, x)` -> logits over K clusters (InfoGAN: Q's
    categorical code, the paper's "c1 as a classifier", Chen et al. 2016 sec. 7.1), each
    cluster given a class by the best one-to-one assignment (Hungarian method), as
    `code_class_match` does for generated samples. Logs the cluster x class counts."""

    NEEDS = ("cluster",)

    def __init__(self, exp, cfg):
        self._fn = _argmax_of(exp, "clustering evaluator", *self.NEEDS)
        self.data = _TestData(exp, cfg)

    def run(self, params):
        clusters, labels = [], []
        for x, y, valid in self.data.batches():
            clusters.append(np.asarray(jax.device_get(self._fn(params, x)))[:valid])
            labels.append(np.asarray(jax.device_get(y))[:valid])
        clusters, labels = np.concatenate(clusters), np.concatenate(labels)
        k = int(max(clusters.max(), labels.max())) + 1
        counts = sample_quality.code_class_counts(labels, clusters, k)
        logging.info("Cluster x test label:\n%s", sample_quality.format_code_class_counts(counts))
        return {f"cluster_accuracy_n{len(labels)}": sample_quality.counts_accuracy(counts)}, {}


class Traversals:
    """Latent traversals of a model with interpretable codes (InfoGAN): the pictures of the
    predict function `traversal_noise(rng, steps)` -> {name: (noise, columns)} (one per
    continuous code, the categorical code by row and that code swept across the columns;
    one with fresh noise per row and the category by column), drawn with `sample`."""

    NEEDS = ("sample", "traversal_noise")

    def __init__(self, exp, cfg):
        sample, self.traversal_noise = predict_lib.of(exp).require(
            "traversals evaluator", *self.NEEDS
        )
        self.steps, self.seed = int(cfg.get("steps", 10)), int(cfg.get("seed", 0))
        self._sample = jax.jit(sample, out_shardings=mesh_lib.replicated(exp.mesh))

    def run(self, params):
        out = {}
        pictures = self.traversal_noise(jax.random.key(self.seed), self.steps)
        for name, (noise, columns) in pictures.items():
            images = np.asarray(jax.device_get(self._sample(params, noise)))
            out[name] = images_lib.make_grid(images, ncol=columns)
        return {}, out


def count_tag(n):
    """10000 -> "10k", 50000 -> "50k", 640 -> "640": the sample count in metric names."""
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


class SampleQuality:
    """FID, KID, Inception Score, precision/recall and mode coverage of a generative model's
    samples against real images, in the features of a named extractor
    (gendl.evaluation.extractors); see the README's metric protocol.

    Config: extractor ("classifier"), num_samples (generated images, 10,000), reference_split
    ("test"), reference_size (real images, default num_samples), metrics (subset of
    fid, kid, is, pr, modes), kid_subsets, kid_subset_size, is_splits, pr_k, seed,
    batch_size (generation), classifier_workdir. Metric names carry the protocol:
    fid/<extractor>/<num_samples>/<split>, e.g. fid/classifier/10k/test.
    """

    METRICS = ("fid", "kid", "is", "pr", "modes")
    NEEDS = ("sample", "sample_noise")

    @staticmethod
    def preflight(exp, cfg):
        extractors.check_available(cfg.get("extractor", "classifier"), exp.config.data.name, cfg)

    @staticmethod
    def prerequisites(exp, cfg):
        data = exp.config.data
        return extractors.prerequisites_of(
            cfg.get("extractor", "classifier"), data.name, cfg, data.manual_dir, data.data_dir
        )

    def __init__(self, exp, cfg):
        c = exp.config
        predict = predict_lib.of(exp)
        self.sample, self.sample_noise = predict.require("sample_quality evaluator", *self.NEEDS)
        self.num_classes = predict.num_classes
        # Unconditional models with a categorical code (InfoGAN): matched to the classes.
        self.code_of = predict.functions.get("categorical_code")
        self.cfg = cfg
        self.metrics = tuple(cfg.get("metrics", self.METRICS))
        unknown = sorted(set(self.metrics) - set(self.METRICS))
        if unknown:
            raise ConfigError(f"Unknown sample-quality metrics {unknown}; known: {self.METRICS}.")
        self.n = int(cfg.get("num_samples", 10_000))
        self.split = cfg.get("reference_split", "test")
        self.extractor = extractors.build(cfg.get("extractor", "classifier"), c.data.name, cfg)
        self.reference = reference.reference_features(
            self.extractor,
            c.data.name,
            self.split,
            int(cfg.get("reference_size", 0) or self.n),
            manual_dir=c.data.manual_dir or None,
            data_dir=c.data.data_dir or None,
        )
        if self.extractor.num_classes is None:  # IS and modes need class probabilities
            self.metrics = tuple(m for m in self.metrics if m not in ("is", "modes"))

    def run(self, variables):
        cfg, ext = self.cfg, self.extractor
        features, logits, requested = [], [], []
        for images, labels in sampling.generate(
            self.sample,
            self.sample_noise,
            variables,
            self.n,
            num_classes=self.num_classes,
            batch_size=int(cfg.get("batch_size", 500)),
            seed=int(cfg.get("seed", 0)),
            code_of=self.code_of,
        ):
            f, lg = ext(images)
            features.append(f)
            if lg is not None:
                logits.append(lg)
            if labels is not None:
                requested.append(labels)
        features = np.concatenate(features)
        ref = self.reference
        tag = f"{ext.name}/{count_tag(self.n)}"
        out = {}
        if "fid" in self.metrics:
            fit = sample_quality.GaussianFit().update(features)
            out[f"fid/{tag}/{self.split}"] = sample_quality.frechet_distance(
                fit.mean, fit.cov, ref["mean"], ref["cov"]
            )
        if "kid" in self.metrics:
            mean, std = sample_quality.kid(
                features,
                ref["features"],
                num_subsets=int(cfg.get("kid_subsets", 100)),
                subset_size=int(cfg.get("kid_subset_size", 1000)),
                seed=int(cfg.get("seed", 0)),
            )
            out[f"kid/{tag}/{self.split}"], out[f"kid_std/{tag}/{self.split}"] = mean, std
        if "pr" in self.metrics:
            p, r = sample_quality.precision_recall(
                ref["features"], features, k=int(cfg.get("pr_k", 3))
            )
            out[f"precision/{tag}/{self.split}"], out[f"recall/{tag}/{self.split}"] = p, r
        logits = np.concatenate(logits) if logits else None
        if "is" in self.metrics:
            mean, std = sample_quality.inception_score(logits, int(cfg.get("is_splits", 10)))
            out[f"is/{tag}"], out[f"is_std/{tag}"] = mean, std
        if "modes" in self.metrics:
            predicted = np.argmax(logits, -1)
            present, kl = sample_quality.mode_coverage(predicted, ext.num_classes)
            out[f"classes_present/{tag}"], out[f"class_kl/{tag}"] = present, kl
            if requested and self.num_classes:
                out[f"label_accuracy/{tag}"] = sample_quality.label_accuracy(
                    predicted, np.concatenate(requested)
                )
            elif requested:
                codes = np.concatenate(requested)
                counts = sample_quality.code_class_counts(predicted, codes, ext.num_classes)
                out[f"code_class_match/{tag}"] = sample_quality.counts_accuracy(counts)
                logging.info(
                    "Categorical code x %s class:\n%s",
                    ext.name,
                    sample_quality.format_code_class_counts(counts),
                )
        return out, {}


REGISTRY = {
    "classification": Classification,
    "clustering": Clustering,
    "traversals": Traversals,
    "sample_quality": SampleQuality,
    "likelihood": Likelihood,
    "reconstruction": Reconstruction,
    "pictures": Pictures,
    "anomaly": Anomaly,
    "generator_pictures": GeneratorPictures,
    "inpainting": Inpainting,
    "translation": Translation,
    "pair_agreement": PairAgreement,
    "melody": Melody,
    "super_resolution": SuperResolution,
    "style_mixing": StyleMixing,
    "truncation_grid": TruncationGrid,
}


def _class(name, cfg):
    kind = cfg.get("type", name)
    if kind not in REGISTRY:
        raise ConfigError(
            f"config.evals.{name}.type={kind!r} is unknown; known: {', '.join(sorted(REGISTRY))}."
        )
    return REGISTRY[kind]


def preflight(exp, name, cfg):
    """Checks before training starts: the objective must provide the predict functions the
    evaluator needs (ConfigError); what it needs that gendl cannot build (e.g. Inception
    weights) gets a warning that the evaluation will be skipped (training is never stopped
    for it)."""
    cls = _class(name, cfg)
    predict = predict_lib.of(exp)
    user = f"{cls.__name__} evaluator (config.evals.{name})"
    predict.require(user, *getattr(cls, "NEEDS", ()))
    if getattr(cls, "NEEDS_ONE_OF", ()):
        predict.require_one_of(user, *cls.NEEDS_ONE_OF)
    check = getattr(cls, "preflight", None)
    if check is None:
        return
    try:
        check(exp, cfg)
    except prerequisites_lib.Unavailable as e:
        logging.warning("The %s evaluation will be skipped: %s", name, e)


def build(exp, name, cfg, train=None):
    """The evaluator, after building with `train` (gendl.training.loop.train, passed in: the
    trainer imports this module) what it needs once per dataset and is not cached yet.
    Raises prerequisites.Unavailable when that cannot be had."""
    cls = _class(name, cfg)
    if train is not None:
        for need in getattr(cls, "prerequisites", lambda exp, cfg: [])(exp, cfg):
            prerequisites_lib.ensure(need, train)
    return cls(exp, cfg)
