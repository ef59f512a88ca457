"""Translates image files with a trained image-to-image model (pix2pix, CycleGAN, DualGAN,
super-resolution: SRResNet, SRGAN; inpainting: the context encoder, CC-GAN):

    python -m gendl.translate --workdir=runs/pix2pix --input=DIR_OR_FILE --output=DIR \
        [--direction=b2a]
    python -m gendl.translate --workdir=runs/ce --input=DIR_OR_FILE --output=DIR [--mask=FILE]

Reads one image file or every (non-hidden) file of a folder, any size or mode: transparency is
composited onto white, grey becomes RGB (or colour grey, for a grey model), and each image is
resized to the model's input size; a super-resolution model (fully convolutional) instead
upscales each image at its own size, by its scale (x4: a 40x30 image becomes 160x120).
Writes one PNG per input into --output at the model's output size, named like the input
(`x.jpg` -> `x.png`). Every input is decoded before anything is written, so a file that is
not an image stops the command with a message naming it and leaves --output untouched. Uses
the workdir's latest checkpoint and the model's translate predict function for --direction:
the unpaired translators (CycleGAN, DualGAN) go both ways (a2b, the default, or b2a); pix2pix
learns the direction it was trained for and refuses the other. The generator's dropout noise
(pix2pix, DualGAN: on at test time, as in the papers) comes from --seed. An inpainting model (the
context encoder) completes each image after cutting the hole of --mask (an image, resized to
the model's size; white = missing, black = kept), or without --mask the hole of the run's own
mask rule (config.objective.mask; random rules draw from --seed).
"""

from absl import flags

from gendl import cli
from gendl.evaluation import file_translation

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by gendl.main.")
_INPUT = flags.DEFINE_string("input", None, "An image file, or a folder of image files.")
_OUTPUT = flags.DEFINE_string("output", None, "Folder for the translated PNGs.")
_DIRECTION = flags.DEFINE_string(
    "direction", "", "'a2b' or 'b2a'; empty: the model's default (the trained one, or a2b)."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the generator's dropout noise.")
_MASK = flags.DEFINE_string(
    "mask", "", "Inpainting models: a mask image (white = missing); empty: the run's mask rule."
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Images translated per batch.", lower_bound=1)
flags.mark_flags_as_required(["workdir", "input", "output"])


def main(argv):
    del argv
    written = file_translation.translate_files(
        _WORKDIR.value,
        _INPUT.value,
        _OUTPUT.value,
        _DIRECTION.value,
        _SEED.value,
        _BATCH_SIZE.value,
        _MASK.value,
    )
    print(f"Wrote {len(written)} translated image(s) to {_OUTPUT.value}")


if __name__ == "__main__":
    cli.run(main, "gendl.translate")
