"""One-class anomaly detection on MNIST-like data (the protocol of e.g. Ruff et al. 2018,
reversed: train on nine classes, the held-out class is the anomaly).

    python -m gendl.anomaly --config=configs/vae.py --workdir=runs/anomaly [--digits=0,1,...]
        [--scores=neg_elbo,complexity_png,complexity_context,typicality,latent_knn,...]
        [--background_mutation_percent=20 --background_weight_decay=1e-4]  # likelihood_ratio

For each held-out class d it trains the config with `data.exclude_labels=(d,)` in
`<workdir>/heldout_<d>` (resuming if run again), scores every test image with each of
`--scores` (gendl.evaluation.anomaly_scores; all from the same trained model) and reports
AUROC with class d as the anomaly class; then the mean per score. With
`--background_mutation_percent` it also trains a background model per class in
`<workdir>/background_<d>` on the same normal images with that share of pixels replaced by
random values (Ren et al. 2019), which the score `likelihood_ratio` needs. Prints the
per-class table and one JSON line, and writes `<workdir>/anomaly.json`.
"""

import json
import os

from absl import flags, logging
from ml_collections import config_flags

from gendl import cli
from gendl.config import ConfigError
from gendl.evaluation import anomaly_scores
from gendl.evaluation.workdir import evaluate
from gendl.training import loop

DEFAULT_SCORES = (
    "neg_elbo,complexity_png,complexity_context,typicality,latent_knn,latent_mahalanobis,"
    "context_plus_knn"
)

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Base directory; one run per held-out digit.")
_DIGITS = flags.DEFINE_list("digits", [str(d) for d in range(10)], "Held-out classes to run.")
_SCORES = flags.DEFINE_string(
    "scores",
    DEFAULT_SCORES,
    "Comma-separated anomaly scores (gendl.evaluation.anomaly_scores.SCORES); "
    "likelihood_ratio is added when a background model is trained.",
)
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", 10, "ELBO draws averaged per test score.", lower_bound=1
)
_NUM_REFERENCE = flags.DEFINE_integer(
    "num_reference",
    0,
    "Normal training images the reference scores use (0: all of them).",
    lower_bound=0,
)
_KNN_K = flags.DEFINE_integer("knn_k", 5, "Neighbour rank of latent_knn.", lower_bound=1)
_MUTATION = flags.DEFINE_integer(
    "background_mutation_percent",
    0,
    "Percent of pixels replaced at random in the background model's training images "
    "(0: no background model).",
    lower_bound=0,
    upper_bound=100,
)
_WEIGHT_DECAY = flags.DEFINE_float(
    "background_weight_decay", 0.0, "L2 weight decay of the background model's optimizer."
)
flags.mark_flags_as_required(["config", "workdir"])


def run(
    config,
    workdir,
    digits,
    scores=DEFAULT_SCORES,
    num_samples=10,
    num_reference=0,
    knn_k=5,
    background_mutation_percent=0,
    background_weight_decay=0.0,
):
    """Trains and scores one model per held-out class; returns {"auroc": {score: {class:
    AUROC, "mean": mean}}, ...} (also written to <workdir>/anomaly.json)."""
    scores = anomaly_scores.parse(scores)
    if background_mutation_percent and "likelihood_ratio" not in scores:
        scores += ("likelihood_ratio",)
    if "likelihood_ratio" in scores and not background_mutation_percent:
        raise ConfigError(
            "The score 'likelihood_ratio' needs a background model: add "
            "--background_mutation_percent=20 (the share of pixels replaced at random; "
            "--background_weight_decay sets its L2 weight; Ren et al. 2019 tune both), or "
            "drop it from --scores."
        )
    auroc = {s: {} for s in scores}
    for digit in digits:
        c = _held_out(config, digit)
        evals = {
            "type": "anomaly",
            "every_steps": -1,
            "scores": ",".join(scores),
            "num_samples": num_samples,
            "num_reference": num_reference,
            "knn_k": knn_k,
            "batch_size": 200,
        }
        if background_mutation_percent:
            background_dir = os.path.join(workdir, f"background_{digit}")
            loop.train(
                _background(c, background_mutation_percent, background_weight_decay),
                background_dir,
            )
            evals["background_workdir"] = os.path.abspath(background_dir)
        with c.unlocked():
            # Scored after training through gendl.evaluate (every_steps < 0), so rerunning a
            # finished class only re-scores it (with the scores asked for now).
            c.evals = {"anomaly": evals}
        run_dir = os.path.join(workdir, f"heldout_{digit}")
        loop.train(c, run_dir)
        overrides = [f"anomaly.{k}={v!r}" for k, v in evals.items() if k != "every_steps"]
        result = evaluate(run_dir, ["anomaly"], overrides=overrides)
        for s in scores:
            auroc[s][str(digit)] = result[f"anomaly/auroc_{s}"]
        logging.info(
            "held-out %s: %s", digit, ", ".join(f"{s} {auroc[s][str(digit)]:.3f}" for s in scores)
        )
    for s in scores:
        auroc[s]["mean"] = sum(auroc[s][str(d)] for d in digits) / len(digits)
    results = {"auroc": auroc, "steps": int(config.total_steps), "data": str(config.data.name)}
    with open(os.path.join(workdir, "anomaly.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


def _held_out(config, digit):
    c = config.copy_and_resolve_references()
    with c.unlocked():
        c.data.exclude_labels = (int(digit),)
    return c


def _background(c, mutation_percent, weight_decay):
    """The background model's config: the same model on the same normal images, a share of
    whose pixels are replaced by uniform random values each time they are drawn."""
    b = c.copy_and_resolve_references()
    with b.unlocked():
        b.data.ops = tuple(b.data.ops) + (f"mutate:{mutation_percent}",)
        b.optimizer.weight_decay = float(weight_decay)
        b.evals = {}
    return b


def table(results) -> str:
    """The per-class AUROC table in Markdown, one row per score."""
    auroc = results["auroc"]
    columns = list(next(iter(auroc.values())))
    lines = [
        "| score | " + " | ".join(columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for score, row in auroc.items():
        lines.append(f"| {score} | " + " | ".join(f"{row[k]:.3f}" for k in columns) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    results = run(
        _CONFIG.value,
        _WORKDIR.value,
        _DIGITS.value,
        _SCORES.value,
        _NUM_SAMPLES.value,
        _NUM_REFERENCE.value,
        _KNN_K.value,
        _MUTATION.value,
        _WEIGHT_DECAY.value,
    )
    print(table(results))
    print(json.dumps(results))


if __name__ == "__main__":
    cli.run(main, "gendl.anomaly")
