"""One-class anomaly detection on MNIST-like data (the protocol of e.g. Ruff et al. 2018,
reversed: train on nine classes, the held-out class is the anomaly).

    python -m gendl.anomaly --config=configs/vae.py --workdir=runs/anomaly [--digits=0,1,...]

For each held-out digit d it trains the config with `data.exclude_labels=(d,)` in
`<workdir>/heldout_<d>` (resuming if run again), scores every test image (negative ELBO for
VAEs, reconstruction error for autoencoders) and reports AUROC with digit d as the anomaly
class; then the mean. Prints one JSON line and writes `<workdir>/anomaly.json`.
"""

import json
import os

from absl import flags, logging
from ml_collections import config_flags

from gendl import cli
from gendl.evaluation.workdir import evaluate
from gendl.training import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Base directory; one run per held-out digit.")
_DIGITS = flags.DEFINE_list("digits", [str(d) for d in range(10)], "Held-out classes to run.")
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", 10, "ELBO draws averaged per test score.", lower_bound=1
)
flags.mark_flags_as_required(["config", "workdir"])


def run(config, workdir, digits, num_samples=10):
    results = {}
    for digit in digits:
        c = config.copy_and_resolve_references()
        with c.unlocked():
            c.data.exclude_labels = (int(digit),)
            # Scored after training through gendl.evaluate (every_steps < 0), so rerunning a
            # finished digit only re-scores it.
            c.evals = {
                "anomaly": {
                    "type": "anomaly",
                    "every_steps": -1,
                    "num_samples": num_samples,
                    "batch_size": 200,
                }
            }
        run_dir = os.path.join(workdir, f"heldout_{digit}")
        loop.train(c, run_dir)
        results[f"auroc_heldout_{digit}"] = evaluate(run_dir, ["anomaly"])["anomaly/auroc"]
        logging.info("held-out digit %s: AUROC %.4f", digit, results[f"auroc_heldout_{digit}"])
    results["auroc_mean"] = sum(results.values()) / len(digits)
    with open(os.path.join(workdir, "anomaly.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


def main(argv):
    del argv
    results = run(_CONFIG.value, _WORKDIR.value, _DIGITS.value, _NUM_SAMPLES.value)
    print(json.dumps(results))


if __name__ == "__main__":
    cli.run(main, "gendl.anomaly")
