"""Interpolates in a trained model's latent space.

Image generators (ProGAN, StyleGAN2, the DCGAN-style GANs): a looping animation through
--keyframes latents drawn from --seed (slerp in z), --frames frames, written as
interpolation.gif (and keyframes.png, the keyframes' images) into --out:

    python -m gendl.interpolate --workdir=runs/stylegan2 --frames=60 --out=DIR

MusicVAE: between two melodies, or the reconstruction of one:

    python -m gendl.interpolate --workdir=runs/music_vae --a=x.mid --b=y.mid --steps=8 --out=DIR
    python -m gendl.interpolate --workdir=runs/music_vae --a=x.mid --out=DIR

Reads the MIDI files (their top line, quantised to 16th notes, the model's length from the bar
of the first note), encodes them to their posterior means, and decodes `--steps` codes on the
great circle between them (slerp; the ends are the two reconstructions), greedily. Writes
interpolation_<i>.mid, interpolation.npy (tokens) and interpolation.png (piano rolls, top to
bottom) into --out. Without --b: input_and_reconstruction_{000,001}.mid and reconstruction.png.
A file that is not MIDI stops the command with a message before anything is written.
"""

from absl import flags

from gendl import cli, objectives
from gendl.config import ConfigError
from gendl.evaluation import latent_animation, melody_files, runs

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by gendl.main.")
_A = flags.DEFINE_string("a", None, "Melody models: the first MIDI file.")
_B = flags.DEFINE_string(
    "b", None, "Melody models: the second MIDI file; leave out to reconstruct --a."
)
_STEPS = flags.DEFINE_integer("steps", 8, "Melody models: melodies on the path, ends included.")
_FRAMES = flags.DEFINE_integer("frames", 60, "Image generators: frames of the animation.")
_KEYFRAMES = flags.DEFINE_integer("keyframes", 4, "Image generators: latents the loop visits.")
_SEED = flags.DEFINE_integer("seed", 0, "Image generators: seed of the keyframes' latents.")
_FPS = flags.DEFINE_float("fps", 20.0, "Image generators: frames per second of the GIF.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
    del argv
    config = runs.load_config(_WORKDIR.value)
    kind = getattr(objectives.REGISTRY.get(config.objective.name), "sample_kind", "images")
    if kind != "melodies":
        if _A.value or _B.value:
            raise ConfigError(
                f"--a/--b are MIDI files for melody models; the {config.objective.name!r} run "
                "in --workdir generates images, and its animation draws its keyframes from "
                "--seed. Leave --a and --b out."
            )
        images = latent_animation.interpolation_gif(
            _WORKDIR.value, _OUT.value, _FRAMES.value, _KEYFRAMES.value, _SEED.value, _FPS.value
        )
        print(f"Wrote interpolation.gif ({len(images)} frames) and keyframes.png to {_OUT.value}")
        return
    if not _A.value:
        raise ConfigError("A melody model interpolates between MIDI files: pass --a (and --b).")
    tokens = melody_files.interpolate_files(
        _WORKDIR.value, _A.value, _B.value, _STEPS.value, _OUT.value
    )
    print(f"Wrote {len(tokens)} melodies (MIDI, tokens, piano rolls) to {_OUT.value}")


if __name__ == "__main__":
    cli.run(main, "gendl.interpolate")
