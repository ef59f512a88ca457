"""Finds the latent of a given image in a trained StyleGAN2 run (the projector of StyleGAN2,
gendl/evaluation/projection.py for the algorithm and the distance):

    python -m gendl.project --workdir=runs/stylegan2 --image=digit.png --out=DIR [--steps=1000]

Reads any image file (any size or mode: transparency composited onto white, grey or colour
made to the model's, resized to its size), optimises w (or one w per layer, --space=w+) and
the per-layer noise maps from the tracked mean w with Adam, and writes into --out: target.png
(the image as the generator sees it), projection.png, projected_ws.npy (ws [num_ws, w_dim]),
projected_noise.npz, and progress.png (target, then the projection at the start and at
--snapshots points). The distance is taken in the features of gendl's classifier of the run's
domain plus a pixel term (--features: auto, none, mnist, fashion_mnist, emoji_style); a
classifier not built yet is built once, as the sample-quality metrics do. A file that is not
an image, or a workdir without a style-based generator, stops the command with a message
before anything is written.
"""

from absl import flags

from gendl import cli
from gendl.evaluation import projection

_WORKDIR = flags.DEFINE_string("workdir", None, "A StyleGAN2 workdir written by gendl.main.")
_IMAGE = flags.DEFINE_string("image", None, "The image file to project.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_STEPS = flags.DEFINE_integer("steps", 1000, "Optimisation steps.")
_SPACE = flags.DEFINE_enum("space", "w", projection.SPACES, "Optimise one w, or one per layer.")
_FEATURES = flags.DEFINE_string(
    "features",
    "auto",
    "The classifier whose features measure the distance: a dataset gendl has a classifier "
    "for (mnist, fashion_mnist, emoji_style), 'auto' (the run's dataset if it has one) or "
    "'none' (pixels only).",
)
_CLASSIFIER_WORKDIR = flags.DEFINE_string(
    "classifier_workdir", "", "That classifier's workdir (default: gendl's cache)."
)
_PIXEL_WEIGHT = flags.DEFINE_float("pixel_weight", 1.0, "Weight of the pixel term.")
_SNAPSHOTS = flags.DEFINE_integer("snapshots", 8, "Progress images after the start.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the w samples and the w noise.")
flags.mark_flags_as_required(["workdir", "image", "out"])


def main(argv):
    del argv
    settings = projection.Settings(
        steps=_STEPS.value,
        space=_SPACE.value,
        pixel_weight=_PIXEL_WEIGHT.value,
        snapshots=_SNAPSHOTS.value,
        seed=_SEED.value,
    )
    result = projection.project_file(
        _WORKDIR.value,
        _IMAGE.value,
        _OUT.value,
        settings,
        _FEATURES.value,
        _CLASSIFIER_WORKDIR.value,
    )
    print(
        f"Projected {_IMAGE.value} in {settings.steps} steps ({result['seconds']:.1f} s): "
        f"distance {result['start_distance']:.4g} at the mean w -> {result['distance']:.4g} "
        f"(pixel MSE {result['start_pixel_mse']:.4g} -> {result['pixel_mse']:.4g}); wrote "
        f"{_OUT.value}"
    )


if __name__ == "__main__":
    cli.run(main, "gendl.project")
