"""Spectral normalisation (Miyato et al. 2018) of a layer's kernel, through flax's
`nn.SpectralNorm`.

The kernel W (a conv kernel flattened to [KH*KW*Cin, Cout], as in the paper) is divided by
an estimate of its largest singular value from one step of power iteration per call. The
power-iteration vector u (and the last sigma) are not parameters: they live in the
`spectral` collection, which the trainer keeps in `TrainState.model_state`. With
`update=True` (training) the step's u is written back, so the estimate sharpens over
training; with `update=False` (evaluation, sampling) the stored u is used and nothing changes.
"""

import flax.linen as nn

COLLECTION = "spectral"


def apply(layer: nn.Module, x, *, enabled: bool, update: bool):
    """`layer(x)`, with the layer's kernel spectrally normalised when `enabled`."""
    if not enabled:
        return layer(x)
    return nn.SpectralNorm(layer, collection_name=COLLECTION)(x, update_stats=update)
