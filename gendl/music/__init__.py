"""Melodies as MusicVAE sees them: notes on a 16th-note grid, their tokens, MIDI files, the
music21 corpus, piano-roll pictures and the statistics that tell music from noise."""
