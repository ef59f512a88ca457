"""MusicVAE (Roberts et al. 2018) on monophonic melodies of the music21 corpus: 2-bar windows
(32 sixteenth-note steps, MusicVAE's 90 tokens), magenta's `cat-mel_2bar_small`: bidirectional
LSTM encoder (512), LSTM decoder 2 x 256, latent 256, free bits 0, beta(t) = (1 - 0.99999^t) *
0.2, scheduled sampling with the inverse-sigmoid schedule (k = 1000), Adam 1e-3 decayed
exponentially (x 0.9999 per step, towards 1e-5), gradient norm clipped at 1. Melodies are
transposed by up to +-5 semitones on the fly. Data: gendl.data.melody_builder (the first
`data.max_tunes` tunes of the interleaved corpus; 0 = all ~12,000, about 15-40 minutes of
parsing on a CPU, once). Magenta trains with batch 512; 128 here keeps a CPU step short.

Run:
    python -m gendl.main --config=configs/music_vae.py --workdir=runs/music_vae
16-bar melodies, hierarchical decoder (magenta's hierdec-mel_16bar: encoder 2 x 2048,
conductor 2 x 1024 run on zero inputs and emitting one embedding per bar, bar decoder 2 x 1024
autoregressive within the bar, latent 512, free bits 256) and its flat baseline (decoder
3 x 2048):
    python -m gendl.main --config=configs/music_vae.py:hierdec_16bar --workdir=runs/music_vae_16bar
    python -m gendl.main --config=configs/music_vae.py:flat_16bar --workdir=runs/music_vae_16bar_flat
A CPU-length run of magenta's beta schedule ends with beta still near 0 (0.008 at 4,000 steps),
so the prior's samples are not music; `:fast_beta` raises beta at rate 0.999 per step (0.2 x
0.98 by step 4,000): at 4,000 steps its prior samples have the test melodies' note density
and 96% of their notes in key, for 0.92 / 0.88 reconstruction accuracy against 0.97 / 0.94
(README, "Melodies: MusicVAE"):
    python -m gendl.main --config=configs/music_vae.py:fast_beta --workdir=runs/music_vae_fast_beta --config.total_steps=4000
The same two at CPU size (`,cpu`: batch 32, encoder 1 x 256, conductor 2 x 128 and bar decoder
2 x 128 against a flat decoder of 3 x 256 -- magenta's width ratios, an eighth of the widths,
one encoder layer; same latent, free bits and objective):
    python -m gendl.main --config=configs/music_vae.py:hierdec_16bar,cpu --workdir=runs/mv16_hier
    python -m gendl.main --config=configs/music_vae.py:flat_16bar,cpu --workdir=runs/mv16_flat
MIDI samples (and tokens.npy), interpolations and reconstructions of MIDI files:
    python -m gendl.sample --workdir=runs/music_vae --num_samples=16 --out=samples/
    python -m gendl.interpolate --workdir=runs/music_vae --a=x.mid --b=y.mid --steps=8 --out=interp/
    python -m gendl.interpolate --workdir=runs/music_vae --a=x.mid --out=recon/   (reconstruction)
Test-split metrics (accuracies, ELBO, KL, sample statistics) and piano rolls:
    python -m gendl.evaluate --workdir=runs/music_vae
CPU smoke run (seconds; 40 tunes, narrow nets):
    python -m gendl.main --config=configs/music_vae.py:smoke --workdir=/tmp/music_vae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 20_000
    c.batch_size = 128

    c.data.source = "melodies"
    c.data.bars = 2
    c.data.max_tunes = 2000  # 0: the whole corpus
    c.data.test_fraction = 0.1

    c.model.name = "music_vae"
    c.model.encoder = (512,)
    c.model.decoder = (256, 256)
    c.model.conductor = ()  # () : flat decoder; layers of the conductor LSTM otherwise
    c.model.bar_steps = 16
    c.model.autoregressive = True
    c.model.latent = 256
    # lax.scan's unroll factor over the steps (0: fully unrolled). Measured (README, MusicVAE):
    # on 2 bars 1, 4 and 0 run the step equally fast (1.40, 1.35, 1.26 steps/s) but compile
    # in 33, 7 and 33 s (XLA:CPU unrolls the 32-step unroll=1 loop itself); on 16 bars
    # unroll=1 compiled for over 8 minutes and 12 GB before it was stopped, 4 in 14 s.
    c.model.unroll = 4

    c.objective.name = "music_vae"
    c.objective.max_beta = 0.2
    c.objective.beta_rate = 0.99999
    c.objective.free_bits = 0.0
    c.objective.sampling_schedule = "inverse_sigmoid"
    c.objective.sampling_rate = 1000.0
    c.objective.transpose = 5
    c.objective.temperature = 1.0

    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "exponential"
    c.optimizer.decay_rate = 0.9999
    c.optimizer.final_learning_rate = 1e-5
    c.optimizer.grad_clip_norm = 1.0

    # Test split: accuracies (teacher-forced, sampled), ELBO, KL; sample statistics against
    # the test melodies; piano rolls of samples, reconstructions and an interpolation.
    c.evals.melody = dict(
        type="melody", every_steps=2000, num_examples=2048, num_samples=512, batch_size=256
    )

    c.checkpoint.every_steps = 2000
    c.log.every_steps = 100

    def smoke(c):
        config_lib.smoke(c)
        c.batch_size = 8
        c.data.max_tunes = 40
        c.model.encoder = (32,)
        c.model.decoder = (32, 32)
        c.model.latent = 16
        c.evals.melody.num_samples = 16

    def sixteen_bars(c):
        c.data.bars = 16
        c.model.encoder = (2048, 2048)
        c.model.latent = 512
        c.objective.free_bits = 256.0
        c.objective.max_beta = 0.2
        c.objective.beta_rate = 0.0  # magenta's default: beta = max_beta from the first step
        c.objective.sampling_schedule = "constant"
        c.objective.sampling_rate = 0.0
        c.batch_size = 64

    def hierdec_16bar(c):
        sixteen_bars(c)
        c.model.conductor = (1024, 1024)
        c.model.decoder = (1024, 1024)  # autoregressive within each bar, as magenta's

    def flat_16bar(c):
        sixteen_bars(c)
        c.model.decoder = (2048, 2048, 2048)

    def cpu(c):
        if c.data.bars != 16:
            raise config_lib.ConfigError(
                "music_vae's `cpu` variant sizes the 16-bar models; use it after "
                "hierdec_16bar or flat_16bar (e.g. configs/music_vae.py:hierdec_16bar,cpu)."
            )
        c.batch_size = 32
        c.model.encoder = (256,)
        if c.model.conductor:
            c.model.conductor = (128, 128)
            c.model.decoder = (128, 128)
        else:
            c.model.decoder = (256, 256, 256)

    def fast_beta(c):
        c.objective.beta_rate = 0.999

    variants = {
        "smoke": smoke,
        "hierdec_16bar": hierdec_16bar,
        "flat_16bar": flat_16bar,
        "fast_beta": fast_beta,
    }
    return config_lib.apply_variant(c, arg, {**variants, "cpu": cpu})
