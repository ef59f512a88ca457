"""Interpolates between two melodies with a trained MusicVAE run, or reconstructs one:

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

from gendl import cli
from gendl.evaluation import melody_files

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by gendl.main.")
_A = flags.DEFINE_string("a", None, "The first MIDI file.")
_B = flags.DEFINE_string("b", None, "The second MIDI file; leave out to reconstruct --a.")
_STEPS = flags.DEFINE_integer("steps", 8, "Melodies on the path, ends included.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
flags.mark_flags_as_required(["workdir", "a", "out"])


def main(argv):
    del argv
    tokens = melody_files.interpolate_files(
        _WORKDIR.value, _A.value, _B.value, _STEPS.value, _OUT.value
    )
    print(f"Wrote {len(tokens)} melodies (MIDI, tokens, piano rolls) to {_OUT.value}")


if __name__ == "__main__":
    cli.run(main, "gendl.interpolate")
