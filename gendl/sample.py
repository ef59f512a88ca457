"""Exports generated samples of a trained run for outside tools:

    python -m gendl.sample --workdir=runs/wgan_gp --num_samples=10000 --out=samples.npz

Image models: writes `images`, uint8 [N, H, W, C] (pixels round(255 * clip(x, 0, 1))), and for
conditional models `labels`, int32 [N], the class each image was asked for (label i % K for
image i).

Melody models (MusicVAE): --out is a folder that receives sample_<i>.mid per melody,
sample.npy (uint8 tokens [N, T], gendl.music.tokens) and samples.png (piano rolls):

    python -m gendl.sample --workdir=runs/music_vae --num_samples=16 --out=samples/

StyleGAN2 with truncation (w pulled towards the mean w by psi; 1: none):

    python -m gendl.sample --workdir=runs/stylegan2 --num_samples=64 --truncation=0.7 --out=s.npz

Uses the latest readable checkpoint; noise comes from --seed.
"""

from absl import flags

from gendl import cli, objectives
from gendl.evaluation import melody_files, runs, workdir

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by gendl.main.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 10_000, "Number of samples.", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "Output .npz file (images) or folder (melodies).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the noise.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 500, "Images generated per batch.", lower_bound=1)
_TRUNCATION = flags.DEFINE_float(
    "truncation",
    None,
    "Truncation psi of models with a tracked mean latent (StyleGAN2): w' = w_avg + psi * "
    "(w - w_avg); unset: none.",
)
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
    del argv
    config = runs.load_config(_WORKDIR.value)
    kind = getattr(objectives.REGISTRY.get(config.objective.name), "sample_kind", "images")
    if kind == "melodies":
        tokens = melody_files.export_samples(
            _WORKDIR.value, _NUM_SAMPLES.value, _OUT.value, _SEED.value
        )
        print(f"Wrote {len(tokens)} melodies (MIDI, tokens, piano rolls) to {_OUT.value}")
        return
    images, _ = workdir.export_npz(
        _WORKDIR.value,
        _NUM_SAMPLES.value,
        _OUT.value,
        _SEED.value,
        _BATCH_SIZE.value,
        truncation=_TRUNCATION.value,
    )
    print(f"Wrote {images.shape} uint8 images to {_OUT.value}")


if __name__ == "__main__":
    cli.run(main, "gendl.sample")
