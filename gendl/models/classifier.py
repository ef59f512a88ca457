"""A small convolutional classifier for 28x28 (or 32x32) images: the domain feature extractor
of gendl's FID/KID/IS/precision-recall on MNIST and Fashion-MNIST.

Stages of 3x3 convs + ReLU + 2x2 max-pool (default: one conv of 32, one of 64), then a dense
layer of `hidden` units (the *features* the metrics compare) and the class logits (whose
softmax gives the Inception Score). Dropout before the logits is the only regulariser: no
batch norm, so features of a sample never depend on the rest of its batch.
"""

import flax.linen as nn
import jax.numpy as jnp

from gendl.models import conv


def _max_pool_2x2(h):
    # A reshape + max instead of nn.max_pool: its gradient (select-and-scatter) made the
    # whole train step 1.5x slower on XLA:CPU.
    n, height, width, c = h.shape
    h = h[:, : height // 2 * 2, : width // 2 * 2]
    return h.reshape(n, height // 2, 2, width // 2, 2, c).max(axis=(2, 4))


class ConvClassifier(nn.Module):
    num_classes: int = 10
    channels: tuple = (32, 64)
    hidden: int = 128
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x, train: bool = False):
        """x: [n, H, W, C] in [0, 1] -> (features [n, hidden], logits [n, num_classes])."""
        h = x
        for i, c in enumerate(self.channels):
            h = nn.relu(conv.Conv(c, 3, padding=1, name=f"conv{i}")(h))
            h = _max_pool_2x2(h)
        h = h.reshape(h.shape[0], -1)
        features = nn.relu(nn.Dense(self.hidden, name="features")(h))
        h = nn.Dropout(self.dropout, deterministic=not train)(features)
        logits = nn.Dense(self.num_classes, name="logits")(h)
        return features, logits.astype(jnp.float32)


def build(cfg, image_shape):
    del image_shape  # convolutional + a dense layer sized at init
    return {
        "classifier": ConvClassifier(
            num_classes=int(cfg.get("num_classes", 10)),
            channels=tuple(cfg.get("channels", (32, 64))),
            hidden=int(cfg.get("hidden", 128)),
            dropout=float(cfg.get("dropout", 0.5)),
        )
    }
