"""MIDI files in and out, through `mido` (MIT; reads and writes Standard MIDI Files message by
message, pure Python): melodies are written at 120 bpm, 220 ticks per quarter note (magenta's
resolution), one track, program 0; reading takes every note-on/note-off pair of every track
but the drum channel and quantises it to 16th notes, keeping the top line."""

import os

import numpy as np

from gendl.data.errors import DataError
from gendl.music import tokens as tok

TICKS_PER_QUARTER = 220
TEMPO = 500_000  # microseconds per quarter note: 120 bpm
_DRUM_CHANNEL = 9
VELOCITY = 80


def _mido():
    try:
        import mido
    except ImportError as err:
        raise DataError(
            "Reading and writing MIDI files needs the `mido` package, which is not installed. "
            "Install gendl's music extra: `pip install -e '.[music]'`."
        ) from err
    return mido


def write(path, notes) -> str:
    """Writes Notes (steps) as a one-track MIDI file; returns the path."""
    mido = _mido()
    ticks = TICKS_PER_QUARTER // tok.STEPS_PER_QUARTER
    events = []
    for n in notes:
        events.append(
            (n.start * ticks, 1, mido.Message("note_on", note=n.pitch, velocity=VELOCITY))
        )
        events.append((n.end * ticks, 0, mido.Message("note_off", note=n.pitch, velocity=0)))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO, time=0)])
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    now = 0
    for time, _, message in sorted(events, key=lambda e: (e[0], e[1])):  # offs before ons
        track.append(message.copy(time=time - now))
        now = time
    track.append(mido.MetaMessage("end_of_track", time=0))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_QUARTER, tracks=[track]).save(path)
    return str(path)


def write_tokens(path, tokens) -> str:
    return write(path, tok.decode(np.asarray(tokens)))


def read(path) -> list:
    """The monophonic melody (Notes in 16th-note steps from the file's first onset's bar) of
    a MIDI file; a DataError in one paragraph when it is not a readable MIDI file or has no
    notes."""
    mido = _mido()
    try:
        midi = mido.MidiFile(path)
        per_quarter = midi.ticks_per_beat
        raw = _notes(midi)
    # mido raises OSError, EOFError, ValueError, KeyError, IndexError on broken files.
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise DataError(
            f"{path} is not a readable MIDI file ({detail}). Pass a Standard "
            "MIDI File (.mid), e.g. one written by `python -m gendl.sample` or exported from "
            "a score editor."
        ) from err
    if not raw or per_quarter <= 0:
        raise DataError(
            f"The MIDI file {path} holds no notes outside the drum channel, so there is no "
            "melody to read. Pass a MIDI file with a melody."
        )
    scale = tok.STEPS_PER_QUARTER / per_quarter
    notes = [
        tok.Note(int(round(s * scale)), int(round(e * scale)), p)
        for s, e, p in raw
        if tok.in_range(p)
    ]
    notes = tok.monophonic(notes)
    if not notes:
        raise DataError(f"The MIDI file {path} has no notes in the piano range 21..108.")
    first_bar = notes[0].start // tok.STEPS_PER_BAR * tok.STEPS_PER_BAR
    return [tok.Note(n.start - first_bar, n.end - first_bar, n.pitch) for n in notes]


def read_tokens(path, length: int) -> np.ndarray:
    """The first `length` steps of a MIDI file's melody as tokens (uint8 [length])."""
    return tok.encode(read(path), 0, length)


def _notes(midi) -> list:
    """(start tick, end tick, pitch) of every sounded note, all tracks merged."""
    out = []
    for track in midi.tracks:
        now, sounding = 0, {}
        for message in track:
            now += message.time
            if message.type not in ("note_on", "note_off") or message.channel == _DRUM_CHANNEL:
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                if key in sounding:  # a repeated note-on ends the sounding one
                    out.append((sounding.pop(key), now, message.note))
                sounding[key] = now
            elif key in sounding:
                out.append((sounding.pop(key), now, message.note))
    return out
