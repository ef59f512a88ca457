"""MusicVAE's networks (Roberts et al. 2018, "A Hierarchical Latent Vector Model for Learning
Long-Term Structure in Music"; magenta's music_vae/lstm_models.py as the reference): a
bidirectional LSTM encoder q(z | x) and an LSTM decoder p(x | z) over MusicVAE's 90-class
melody tokens (gendl.music.tokens), flat or hierarchical.

Flat decoder: z sets every layer's initial (c, h) (dense + tanh) and is also fed, with the
previous token as a one-hot, at every step. Hierarchical decoder: a conductor LSTM, started
from z, is run with zero inputs for one step per bar and emits one embedding per bar; the bar
decoder restarts from each embedding (dense + tanh) at each bar line and sees it, with the
previous token, at every step of the bar. Magenta's `disable_autoregression` (hierdec-mel_16bar)
is the conductor's zero inputs: it disables autoregression *within the hierarchy*, not in the
bar decoder, which stays autoregressive (`autoregressive=False` drops the previous token, an
ablation).

Recurrence: one `jax.lax.scan` over the steps with the inputs' projections computed for all
steps at once outside it; `unroll` (config.model.unroll) passes scan's unroll factor (True:
a fully unrolled loop). LSTM cells are TensorFlow's BasicLSTMCell (forget-gate bias 1).
Parameters are float32; matmuls run in config.model.dtype.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.music import tokens as tok

_glorot = nn.initializers.glorot_uniform()


def _mm(x, w, dtype):
    return jnp.dot(x.astype(dtype), w.astype(dtype), preferred_element_type=jnp.float32)


def _cell(w, state, x_proj, dtype):
    """One LSTM step from the input's projection (x W_x + b): returns the new (c, h)."""
    c, h = state
    i, g, f, o = jnp.split(x_proj + _mm(h, w["wh"], dtype), 4, axis=-1)
    c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return c, jax.nn.sigmoid(o) * jnp.tanh(c)


class _Params(nn.Module):
    """Declares raw weight arrays, so the recurrences can be pure functions inside a scan."""

    def lstm(self, name, inputs, hidden):
        return {
            "wx": self.param(f"{name}_wx", _glorot, (inputs, 4 * hidden)),
            "wh": self.param(f"{name}_wh", _glorot, (hidden, 4 * hidden)),
            "b": self.param(f"{name}_b", nn.initializers.zeros, (4 * hidden,)),
        }

    def dense(self, name, inputs, outputs):
        return {
            "w": self.param(f"{name}_w", _glorot, (inputs, outputs)),
            "b": self.param(f"{name}_b", nn.initializers.zeros, (outputs,)),
        }


def _run(w, xs_proj, hidden, unroll, dtype, reverse=False):
    """An LSTM over [T, b, 4h] input projections from zero state: (hs [T, b, h], last h)."""
    batch = xs_proj.shape[1]
    zeros = jnp.zeros((batch, hidden), jnp.float32)

    def step(state, x):
        state = _cell(w, state, x, dtype)
        return state, state[1]

    (_, h), hs = jax.lax.scan(step, (zeros, zeros), xs_proj, reverse=reverse, unroll=unroll)
    return hs, h


class Encoder(_Params):
    """Tokens [b, T] -> (mu, sigma) of q(z | x), each [b, latent]: stacked bidirectional
    LSTMs; the last layer's final forward and backward states through two dense layers
    (sigma = softplus)."""

    hidden: tuple = (512,)
    latent: int = 256
    unroll: int | bool = 1
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, tokens):
        x = jnp.swapaxes(tokens.astype(jnp.int32), 0, 1)  # time major: [T, b]
        inputs, finals = tok.NUM_CLASSES, []
        hs = None
        for layer, hidden in enumerate(self.hidden):
            outs, finals = [], []
            for direction in ("fw", "bw"):
                w = self.lstm(f"l{layer}_{direction}", inputs, hidden)
                if hs is None:  # one-hot input: its projection is a row of W_x
                    proj = w["wx"][x] + w["b"]
                else:
                    proj = _mm(hs, w["wx"], self.dtype) + w["b"]
                out, last = _run(w, proj, hidden, self.unroll, self.dtype, direction == "bw")
                outs.append(out)
                finals.append(last)
            hs, inputs = jnp.concatenate(outs, -1), 2 * hidden
        final = jnp.concatenate(finals, -1)
        mu_w = self.dense("mu", final.shape[-1], self.latent)
        sigma_w = self.dense("sigma", final.shape[-1], self.latent)
        mu = _mm(final, mu_w["w"], self.dtype) + mu_w["b"]
        sigma = jax.nn.softplus(_mm(final, sigma_w["w"], self.dtype) + sigma_w["b"])
        return mu, sigma


class Decoder(_Params):
    """z [b, latent] -> (logits [b, T, 90], chosen tokens [b, T]).

    At step t the decoder emits logits, draws a token argmax(logits / temperature + gumbel_t)
    and feeds the next step either that token (where `use_sample[:, t]`, scheduled sampling;
    everywhere when generating) or the target's (teacher forcing). `segment` steps per bar
    decoder segment: the sequence length for the flat decoder; with `conductor` layers, the
    steps per bar of the hierarchical one.
    """

    length: int = 32
    hidden: tuple = (256, 256)
    conductor: tuple = ()
    segment: int = 32
    autoregressive: bool = True
    unroll: int | bool = 1
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, z, targets, use_sample, gumbel, temperature: float = 1.0):
        batch, segments = z.shape[0], self.length // self.segment
        if self.conductor:
            cond = self._conductor(z, segments)  # [S, b, conductor[-1]]
        else:
            cond = z[None]  # one segment conditioned on z
        # Per segment: every layer's initial state, and the first layer's input projection.
        inits = []
        for layer, hidden in enumerate(self.hidden):
            w = self.dense(f"init{layer}", cond.shape[-1], 2 * hidden)
            c, h = jnp.split(jnp.tanh(_mm(cond, w["w"], self.dtype) + w["b"]), 2, -1)
            inits.append((c, h))
        cells, inputs = [], cond.shape[-1] + (tok.NUM_CLASSES if self.autoregressive else 0)
        for layer, hidden in enumerate(self.hidden):
            cells.append(self.lstm(f"dec{layer}", inputs, hidden))
            inputs = hidden
        out = self.dense("logits", inputs, tok.NUM_CLASSES)
        w0 = cells[0]["wx"]
        cond_proj = _mm(cond, w0[: cond.shape[-1]], self.dtype) + cells[0]["b"]  # [S, b, 4h]
        token_w = w0[cond.shape[-1] :]

        def step(carry, xs):
            states, prev = carry
            t, g, target, use = xs
            seg = t // self.segment
            reset = t % self.segment == 0
            states = [
                tuple(jnp.where(reset, i[seg], s) for s, i in zip(state, init, strict=True))
                for state, init in zip(states, inits, strict=True)
            ]
            x = cond_proj[seg]
            if self.autoregressive:  # one_hot(-1) = 0: the zero start input
                x = x + _mm(jax.nn.one_hot(prev, tok.NUM_CLASSES), token_w, self.dtype)
            new = []
            for layer, w in enumerate(cells):
                if layer:
                    x = _mm(new[-1][1], w["wx"], self.dtype) + w["b"]
                new.append(_cell(w, states[layer], x, self.dtype))
            logits = _mm(new[-1][1], out["w"], self.dtype) + out["b"]
            chosen = jnp.argmax(logits / temperature + g, -1).astype(jnp.int32)
            prev = jnp.where(use, chosen, target)
            return (new, prev), (logits, chosen)

        zeros = [
            (jnp.zeros((batch, h), jnp.float32), jnp.zeros((batch, h), jnp.float32))
            for h in self.hidden
        ]
        xs = (
            jnp.arange(self.length),
            jnp.swapaxes(gumbel, 0, 1),
            jnp.swapaxes(targets.astype(jnp.int32), 0, 1),
            jnp.swapaxes(use_sample, 0, 1),
        )
        start = -jnp.ones((batch,), jnp.int32)
        _, (logits, chosen) = jax.lax.scan(step, (zeros, start), xs, unroll=self.unroll)
        return jnp.swapaxes(logits, 0, 1), jnp.swapaxes(chosen, 0, 1)

    def _conductor(self, z, segments):
        """One embedding per bar [S, b, d]: a stacked LSTM from z, zero inputs."""
        hs = jnp.zeros((segments, z.shape[0], 1), jnp.float32)
        for layer, hidden in enumerate(self.conductor):
            w = self.lstm(f"conductor{layer}", hs.shape[-1], hidden)
            wi = self.dense(f"conductor_init{layer}", z.shape[-1], 2 * hidden)
            state = tuple(jnp.split(jnp.tanh(_mm(z, wi["w"], self.dtype) + wi["b"]), 2, -1))
            proj = _mm(hs, w["wx"], self.dtype) + w["b"]

            def step(state, x, w=w):
                state = _cell(w, state, x, self.dtype)
                return state, state[1]

            _, hs = jax.lax.scan(step, state, proj, unroll=self.unroll)
        return hs


def sequence_length(spec) -> int:
    if "tokens" not in spec.features:
        raise ConfigError(
            f"MusicVAE reads melody tokens (feature 'tokens'), but the data gives "
            f"{sorted(spec.features)}. Use config.data.source='melodies'."
        )
    return int(spec.features["tokens"].shape[0])


def build(cfg, spec):
    length = sequence_length(spec)
    hierarchical = bool(cfg.get("conductor", ()))
    segment = int(cfg.get("bar_steps", tok.STEPS_PER_BAR)) if hierarchical else length
    if length % segment:
        raise ConfigError(
            f"The hierarchical decoder cuts the {length}-step melodies into bars of "
            f"config.model.bar_steps={segment} steps, which does not divide {length}."
        )
    unroll = cfg.get("unroll", 1)
    unroll = True if unroll in (True, 0, -1) else int(unroll)  # 0 / -1 / True: fully unrolled
    common = dict(unroll=unroll, dtype=jnp.dtype(cfg.get("dtype", "float32")))
    return {
        "encoder": Encoder(hidden=tuple(cfg.encoder), latent=int(cfg.latent), **common),
        "decoder": Decoder(
            length=length,
            hidden=tuple(cfg.decoder),
            conductor=tuple(cfg.get("conductor", ())),
            segment=segment,
            autoregressive=bool(cfg.get("autoregressive", True)),
            **common,
        ),
    }
