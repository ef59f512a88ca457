"""Per-example anomaly scores of the one-class protocol (higher = more anomalous), by name.

Each score is a small function of per-example quantities that the anomaly evaluator computes
once per test set and shares between scores (gendl.evaluation.evaluators.Anomaly):

    nll               negative ELBO of each test image (nats), averaged over draws
    images            the model's inputs, floats in [0, 1], [n, H, W, C]
    codes             the encoder's posterior means of the test images, [n, d]
    reference_nll     the same three for the NORMAL training images (the classes the model
    reference_images  was trained on; no anomaly and no test label is ever used)
    reference_codes
    background_nll    negative ELBO under a background model trained on mutated normal images

A likelihood alone ranks simple images (few ink pixels, e.g. the digit 1) as the most normal
(Nalisnick et al. 2019); the other scores correct for that in different ways.
"""

import dataclasses
import io

import numpy as np
from PIL import Image

from gendl.config import ConfigError

_LN2 = float(np.log(2.0))


def png_bits(images) -> np.ndarray:
    """Length in bits of each image as a PNG (zlib level 9): Serrà et al.'s L(x) with PNG as
    the general-purpose lossless compressor. Binary images (every value 0 or 1) are stored as
    1-bit PNGs, so a binarised model input is compressed in the space the model's likelihood
    is defined on; others as 8-bit grey / RGB after rounding to 0..255.

    Args:
      images: [n, H, W, C] floats in [0, 1] (C = 1 or 3).
    """
    x = np.asarray(images, np.float32)
    binary = bool(np.all((x == 0) | (x == 1)))
    out = np.empty(len(x))
    for i, image in enumerate(x):
        image = image[..., 0] if image.shape[-1] == 1 else image
        if binary:
            pil = Image.fromarray(image.astype(bool))
        else:
            pil = Image.fromarray(np.round(image * 255).astype(np.uint8))
        buffer = io.BytesIO()
        pil.save(buffer, format="PNG", compress_level=9)
        out[i] = 8 * buffer.getbuffer().nbytes
    return out


# Causal neighbours of the context model: west, north-west, north, north-east.
_CONTEXT = ((0, -1), (-1, -1), (-1, 0), (-1, 1))


def context_model_bits(images) -> np.ndarray:
    """Ideal code length in bits of each binary image under an adaptive context model, the
    modelling half of a JBIG-style arithmetic coder (which achieves it within 2 bits): pixels
    in raster order, each coded with the Krichevsky-Trofimov estimate (counts from 1/2) of
    its value given its four causal neighbours (outside the image: 0), the counts learnt
    within the image itself. A general-purpose compressor for binary images: it knows
    nothing of digits, and unlike PNG its fixed cost is small next to a model's NLL.

    Args:
      images: [n, H, W, 1] with every value 0 or 1.
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 1 or not np.all((x == 0) | (x == 1)):
        raise ConfigError(
            "The score 'complexity_context' codes binary one-channel images (e.g. binarised "
            "MNIST); for other images use 'complexity_png'."
        )
    n, h, w = x.shape[:3]
    padded = np.zeros((n, h + 1, w + 2), np.int64)
    padded[:, 1:, 1:-1] = x[..., 0]
    counts = np.full((n, 2 ** len(_CONTEXT), 2), 0.5)
    rows, bits = np.arange(n), np.zeros(n)
    for i in range(1, h + 1):
        for j in range(1, w + 1):
            context = np.zeros(n, np.int64)
            for di, dj in _CONTEXT:
                context = 2 * context + padded[:, i + di, j + dj]
            value = padded[:, i, j]
            seen = counts[rows, context]
            bits -= np.log2(seen[rows, value] / seen.sum(1))
            counts[rows, context, value] += 1
    return bits


def complexity_corrected(nll, images, bits=png_bits) -> np.ndarray:
    """S(x) = -log p(x) - L(x) in nats (Serrà et al. 2020), L(x) = `bits(images)` the
    compressor's code length: the likelihood's surprise minus a general-purpose
    compressor's, so an image that is simple for any compressor gains nothing."""
    return np.asarray(nll, np.float64) - _LN2 * bits(images)


def complexity_context(nll, images) -> np.ndarray:
    """S(x) with the adaptive context model's code length (`context_model_bits`)."""
    return complexity_corrected(nll, images, context_model_bits)


def typicality(nll, reference_nll) -> np.ndarray:
    """|-log p(x) - mean over normal training images|: the one-example typicality test
    (Nalisnick et al. 2019); too likely is as atypical as too unlikely."""
    return np.abs(np.asarray(nll, np.float64) - np.mean(reference_nll))


def likelihood_ratio(nll, background_nll) -> np.ndarray:
    """-log p(x) + log p_background(x) (Ren et al. 2019): the background model, trained on
    mutated inputs, learns the population-level statistics (e.g. how much ink) and its
    likelihood cancels them, leaving the semantic part."""
    return np.asarray(nll, np.float64) - np.asarray(background_nll, np.float64)


def knn_distance(codes, reference_codes, k=5, chunk=1024) -> np.ndarray:
    """Euclidean distance of each code to its k-th nearest reference code: zero for a code
    with k reference codes at its place, growing as it leaves the normal codes' region."""
    ref = np.asarray(reference_codes, np.float64)
    if not 1 <= k <= len(ref):
        raise ConfigError(f"knn_k={k} must lie in 1..{len(ref)} (the reference codes).")
    codes = np.asarray(codes, np.float64)
    ref_sq = np.sum(ref**2, 1)
    out = np.empty(len(codes))
    for i in range(0, len(codes), chunk):
        c = codes[i : i + chunk]
        sq = np.sum(c**2, 1)[:, None] - 2 * c @ ref.T + ref_sq[None, :]
        out[i : i + chunk] = np.partition(np.maximum(sq, 0.0), k - 1, axis=1)[:, k - 1]
    return np.sqrt(out)


def mahalanobis(codes, reference_codes, ridge=1e-6) -> np.ndarray:
    """Squared Mahalanobis distance of each code under a Gaussian fitted to the reference
    codes (mean and covariance + ridge * I, so a collapsed latent direction stays finite)."""
    ref = np.asarray(reference_codes, np.float64)
    mean = ref.mean(0)
    cov = np.cov(ref, rowvar=False).reshape(ref.shape[1], ref.shape[1])
    cov += ridge * np.eye(len(cov))
    d = np.asarray(codes, np.float64) - mean
    return np.sum(d * np.linalg.solve(cov, d.T).T, 1)


def context_plus_knn(
    nll, images, codes, reference_nll, reference_images, reference_codes, k=5, num_stats=2000
) -> np.ndarray:
    """complexity_context + latent_knn, each standardised by its mean and standard deviation
    over `num_stats` random normal training images (seed 0; a training code's neighbours
    leave itself out): the two see different things (how surprising the pixels are beyond
    their complexity; how far the code is from normal codes), on one scale."""
    pick = np.random.default_rng(0).permutation(len(reference_codes))[:num_stats]
    parts = (
        (
            complexity_context(nll, images),
            complexity_context(np.asarray(reference_nll)[pick], reference_images[pick]),
        ),
        (
            knn_distance(codes, reference_codes, k),
            knn_distance(np.asarray(reference_codes)[pick], reference_codes, k + 1),
        ),
    )
    return sum((v - r.mean()) / r.std() for v, r in parts)


@dataclasses.dataclass(frozen=True)
class Score:
    needs: tuple  # quantities of the module docstring, in the argument order of `fn`
    fn: object
    about: str
    options: tuple = ()  # (evaluator config key, keyword argument of fn, default)


SCORES = {
    "neg_elbo": Score(("nll",), lambda nll: np.asarray(nll, np.float64), "-ELBO (the likelihood)"),
    "complexity_png": Score(
        ("nll", "images"), complexity_corrected, "-ELBO minus PNG length (Serrà et al. 2020)"
    ),
    "complexity_context": Score(
        ("nll", "images"),
        complexity_context,
        "-ELBO minus an adaptive context coder's length (Serrà et al. 2020)",
    ),
    "typicality": Score(
        ("nll", "reference_nll"), typicality, "|-ELBO - mean over normal training images|"
    ),
    "likelihood_ratio": Score(
        ("nll", "background_nll"), likelihood_ratio, "-ELBO + background ELBO (Ren et al. 2019)"
    ),
    "latent_knn": Score(
        ("codes", "reference_codes"),
        knn_distance,
        "distance to the knn_k-th nearest normal code",
        (("knn_k", "k", 5),),
    ),
    "context_plus_knn": Score(
        ("nll", "images", "codes", "reference_nll", "reference_images", "reference_codes"),
        context_plus_knn,
        "complexity_context + latent_knn, standardised on normal training images",
        (("knn_k", "k", 5),),
    ),
    "latent_mahalanobis": Score(
        ("codes", "reference_codes"), mahalanobis, "Gaussian fit of the normal codes"
    ),
}


def parse(names) -> tuple:
    """Score names from a comma-separated string or a sequence; a ConfigError names the
    unknown ones and lists what exists."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    names = tuple(str(n).strip() for n in names if str(n).strip())
    unknown = [n for n in names if n not in SCORES]
    if unknown or not names:
        listing = "; ".join(f"{n}: {s.about}" for n, s in SCORES.items())
        raise ConfigError(
            f"Unknown anomaly score(s) {', '.join(repr(n) for n in unknown) or '(none given)'}. "
            f"Give one or more of these names, comma-separated (e.g. "
            f"--scores=neg_elbo,latent_knn, or config.evals.anomaly.scores): {listing}. "
            "'likelihood_ratio' also needs a background model (gendl.anomaly "
            "--background_mutation_percent)."
        )
    return names
