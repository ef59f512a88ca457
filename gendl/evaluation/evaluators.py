"""Evaluators that run during training (config.evals) and from `python -m gendl.evaluate`.

Each evaluator is built lazily from `config.evals.<name>` (its `type` picks the class) and
returns (scalars, images) for the current parameters. They read the dataset's test split
and use only the objective's public methods (encode, decode_mean, log_weights, elbo, sample),
so any model family that provides those gets them.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gendl.config import ConfigError
from gendl.data import source, transforms
from gendl.evaluation import anomaly, likelihood
from gendl.evaluation.generator_pictures import GeneratorPictures
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


class _TestData:
    def __init__(self, exp, cfg):
        c = exp.config
        images, labels = _test_split(c.data.name, c.data.manual_dir, c.data.data_dir)
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
        sharding = mesh_lib.batch_sharding(self.mesh)
        for i in range(0, len(self.x), self.batch_size):
            x, y = self.x[i : i + self.batch_size], self.labels[i : i + self.batch_size]
            valid = len(x)
            if valid < self.batch_size:
                pad = self.batch_size - valid
                x = np.concatenate([x, np.repeat(x[-1:], pad, 0)])
                y = np.concatenate([y, np.repeat(y[-1:], pad, 0)])
            yield jax.device_put(x, sharding), jax.device_put(y, sharding), valid


class Likelihood:
    """Test ELBO and the importance-sampled NLL estimate -log p(x) in nats (Burda et al. 2015),
    k = num_samples importance samples per example, streamed in chunks to bound memory."""

    def __init__(self, exp, cfg):
        self.data = _TestData(exp, cfg)
        self.k = int(cfg.get("num_samples", 5000))
        chunk = int(cfg.get("chunk_size", 500))
        obj = exp.objective
        rep = mesh_lib.replicated(exp.mesh)

        def per_example(params, x, labels, rng):
            ll = likelihood.importance_sampled_log_likelihood(
                lambda p, x, r, n: obj.log_weights(p, x, labels, r, n),
                params,
                x,
                rng,
                self.k,
                min(chunk, self.k),
            )
            return obj.elbo(params, x, labels, jax.random.fold_in(rng, 1)), ll

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

    def __init__(self, exp, cfg):
        self.data = _TestData(exp, cfg)
        obj = exp.objective
        rep = mesh_lib.replicated(exp.mesh)

        def recon(params, x, labels):
            code = obj.encode(params, x, labels)
            code = code[0] if isinstance(code, tuple) else code  # a VAE's posterior mean
            return obj.decode_mean(params, code, labels)

        self._fn = jax.jit(recon, out_shardings=rep)
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
    test images, and for 2-D latents the decoded manifold and a scatter of test codes."""

    def __init__(self, exp, cfg):
        self.data = _TestData(exp, cfg)
        self.exp = exp
        self.steps = int(cfg.get("interpolation_steps", 10))
        self.rows = int(cfg.get("interpolation_rows", 8))

    def run(self, params):
        obj = self.exp.objective
        out = {}
        n = 100
        noise = obj.sample_noise(jax.random.key(0), n)
        labels = jnp.repeat(jnp.arange(10), 10) if getattr(obj, "conditional", False) else None
        samples = (
            obj.sample(params, noise, labels) if labels is not None else obj.sample(params, noise)
        )
        out["prior_samples"] = images_lib.make_grid(np.asarray(samples), ncol=10)

        x = jnp.asarray(self.data.x[: 2 * self.rows])
        y = jnp.asarray(self.data.labels[: 2 * self.rows])
        code = obj.encode(params, x, y)
        code = code[0] if isinstance(code, tuple) else code
        path = figures.slerp(code[: self.rows], code[self.rows :], self.steps)  # [steps, rows, d]
        path = jnp.swapaxes(path, 0, 1).reshape(self.rows * self.steps, -1)
        rows_y = jnp.repeat(y[: self.rows], self.steps)
        strip = np.asarray(obj.decode_mean(params, path, rows_y))
        out["interpolations"] = figures.interpolation_strip(
            strip.reshape(self.rows, self.steps, *strip.shape[1:])
        )

        if code.shape[-1] == 2 and not getattr(obj, "conditional", False):
            out["manifold"] = figures.manifold_grid(
                lambda z: np.asarray(obj.decode_mean(params, jnp.asarray(z)))
            )
            codes = []
            for xb, yb, valid in self.data.batches():
                c = obj.encode(params, xb, yb)
                codes.append(np.asarray(c[0] if isinstance(c, tuple) else c)[:valid])
            out["latent_scatter"] = figures.scatter_plot(np.concatenate(codes), self.data.labels)
        return {}, out


class Anomaly:
    """One-class anomaly detection: every test image gets a score (the negative ELBO averaged
    over `num_samples` draws for a VAE, the reconstruction BCE for an autoencoder); the classes
    left out of training (config.data.exclude_labels) are the anomalies. Reports AUROC."""

    def __init__(self, exp, cfg):
        self.data = _TestData(exp, cfg)
        held_out = cfg.get("held_out", None) or exp.config.data.exclude_labels
        if not held_out:
            raise ConfigError(
                "The anomaly evaluator needs anomalous classes: set config.data.exclude_labels "
                "(left out of training) or config.evals.<name>.held_out."
            )
        self.is_anomaly = np.isin(self.data.labels, np.asarray(held_out))
        obj, k = exp.objective, int(cfg.get("num_samples", 10))
        rep = mesh_lib.replicated(exp.mesh)

        def score(params, x, labels, rng):
            if hasattr(obj, "elbo"):
                keys = jax.random.split(rng, k)
                return -jnp.mean(jnp.stack([obj.elbo(params, x, labels, r) for r in keys]), 0)
            r = obj.decode_mean(params, obj.encode(params, x, labels), labels)
            p = jnp.clip(r, 1e-6, 1 - 1e-6).reshape(x.shape[0], -1)
            t = x.reshape(x.shape[0], -1)
            return -jnp.sum(t * jnp.log(p) + (1 - t) * jnp.log(1 - p), -1)

        self._fn = jax.jit(score, out_shardings=rep)

    def run(self, params):
        scores = []
        for i, (x, y, valid) in enumerate(self.data.batches()):
            s = self._fn(params, x, y, jax.random.fold_in(jax.random.key(0), i))
            scores.append(np.asarray(jax.device_get(s))[:valid])
        return {"auroc": anomaly.roc_auc(np.concatenate(scores), self.is_anomaly)}, {}


REGISTRY = {
    "likelihood": Likelihood,
    "reconstruction": Reconstruction,
    "pictures": Pictures,
    "anomaly": Anomaly,
    "generator_pictures": GeneratorPictures,
}


def build(exp, name, cfg):
    kind = cfg.get("type", name)
    if kind not in REGISTRY:
        raise ConfigError(
            f"config.evals.{name}.type={kind!r} is unknown; known: {', '.join(sorted(REGISTRY))}."
        )
    return REGISTRY[kind](exp, cfg)
