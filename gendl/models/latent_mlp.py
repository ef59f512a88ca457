"""MLP networks of the GANs that pair images with latent codes: InfoGAN (a discriminator with
a Q head on the same trunk), BiGAN/ALI (an encoder and a joint discriminator D(x, z)) and the
adversarial autoencoder (a discriminator on codes). Generators, decoders and encoders are the
MLPs of `mlp_vae` (an MLP decoder's logits pass through a sigmoid in the objective): the
AAE's are mlp_vae's own; InfoGAN's generator and BiGAN's networks are `MlpGenerator` and
`MlpCodeEncoder`, the same MLPs with the options below (off for InfoGAN) and a `train` flag.

Discriminators see images rescaled to [-1, 1] and use LeakyReLU(0.2) hidden layers.

BiGAN's networks take the settings of its paper's MNIST code (jeffdonahue/bigan, net.py,
train_mnist.sh) as options, off by default: parameter-free batch norm (`batch_norm`) on every
hidden layer except the first that reads an image (D's and E's first layers), weights drawn
from N(0, `init_std`) with D's logit layer starting at zero, z fed linearly into D's second
layer (`d_z_hidden=()`), z fed again into G's later layers (`g_z_skip`), and codes squashed
into the prior's support (-1, 1) (`bounded_code`).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.models import mlp_vae


def _lrelu(h):
    return nn.leaky_relu(h, 0.2)


def _kernel_init(std):
    return nn.initializers.normal(std) if std else nn.linear.default_kernel_init


def _batch_norm(train, name):
    # No scale or shift: the BiGAN code's MNIST setting (--nogain --nobias).
    return nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False, name=name)


def _trunk(
    h, hidden, prefix="hidden", *, act=_lrelu, norm_from=None, train=False, std=0.0, skip=None
):
    """Dense layers; batch norm before the nonlinearity from layer `norm_from` on (None:
    never); `skip` (if given) is concatenated to the input of every layer after the first."""
    for i, width in enumerate(hidden):
        if skip is not None and i:
            h = jnp.concatenate([h, skip], -1)
        h = nn.Dense(width, kernel_init=_kernel_init(std), name=f"{prefix}{i}")(h)
        if norm_from is not None and i >= norm_from:
            h = _batch_norm(train, f"{prefix}{i}_bn")(h)
        h = act(h)
    return h


def _flat_image(x):
    return 2.0 * x.reshape(x.shape[0], -1) - 1.0


class InfoDiscriminator(nn.Module):
    """x -> (real/fake logit [n], Q's categorical logits [n, K], Q's continuous means [n, C]).

    Q shares every hidden layer with D (Chen et al. 2016, sec. 5: Q is one extra output layer
    on D's trunk, so the mutual-information term costs almost nothing)."""

    hidden: tuple = (1024, 512, 256)
    num_categories: int = 10
    num_continuous: int = 2

    @nn.compact
    def __call__(self, x, train=False):
        del train  # no batch norm or dropout; taken so that every network is called alike
        h = _trunk(_flat_image(x), self.hidden)
        logit = jnp.squeeze(nn.Dense(1, name="logit")(h), -1)
        cat = nn.Dense(self.num_categories, name="q_categorical")(h)
        cont = nn.Dense(self.num_continuous, name="q_continuous")(h)
        return logit, cat, cont


class JointDiscriminator(nn.Module):
    """(x, z) -> one logit: is this pair (x, E(x)) or (G(z), z)? (Donahue et al. 2017;
    Dumoulin et al. 2017). Image and code pass through their own layers first, then a joint
    trunk. With `z_hidden=()` the code enters the trunk's first layer linearly, which is the
    BiGAN code's MNIST discriminator (z added into its second layer)."""

    x_hidden: tuple = (1024,)
    z_hidden: tuple = (1024,)
    joint_hidden: tuple = (1024,)
    batch_norm: bool = False
    init_std: float = 0.0  # > 0: N(0, init_std) weights and a zero-initialised logit layer

    @nn.compact
    def __call__(self, x, z, train=False):
        kw = dict(norm_from=1 if self.batch_norm else None, train=train, std=self.init_std)
        hx = _trunk(_flat_image(x), self.x_hidden, "x_hidden", **kw)
        hz = _trunk(z, self.z_hidden, "z_hidden", **kw)
        joint = {**kw, "norm_from": 0 if self.batch_norm else None}
        h = _trunk(jnp.concatenate([hx, hz], -1), self.joint_hidden, "joint_hidden", **joint)
        init = nn.initializers.zeros if self.init_std else nn.linear.default_kernel_init
        return jnp.squeeze(nn.Dense(1, kernel_init=init, name="logit")(h), -1)


class MlpGenerator(nn.Module):
    """z -> pixel logits shaped like the images (the objective applies the sigmoid); ReLU.
    Options off, this is `mlp_vae.MlpDecoder` (same parameter names, same initialisation)."""

    hidden: tuple = (1024, 1024)
    image_shape: tuple = (28, 28, 1)
    batch_norm: bool = False
    z_skip: bool = False  # z also into every hidden layer after the first
    init_std: float = 0.0

    @nn.compact
    def __call__(self, z, train=False):
        h = _trunk(
            z,
            self.hidden,
            act=nn.relu,
            norm_from=0 if self.batch_norm else None,
            train=train,
            std=self.init_std,
            skip=z if self.z_skip else None,
        )
        size = math.prod(self.image_shape)
        logits = nn.Dense(size, kernel_init=_kernel_init(self.init_std), name="logits")(h)
        return logits.reshape(z.shape[0], *self.image_shape)


class MlpCodeEncoder(nn.Module):
    """x -> code; LeakyReLU(`leak`). `bounded`: 2 sigmoid(a) - 1, inside the uniform prior's
    support (-1, 1), as the BiGAN code's encoder of a uniform latent. Options off, this is
    `mlp_vae.MlpEncoder(..., "leaky_relu", gaussian=False)`."""

    hidden: tuple = (1024, 1024)
    latent_dim: int = 50
    batch_norm: bool = False
    bounded: bool = False
    init_std: float = 0.0
    leak: float = 0.01  # nn.leaky_relu's default, as MlpEncoder's; the paper's is 0.2

    @nn.compact
    def __call__(self, x, train=False):
        h = _trunk(
            x.reshape(x.shape[0], -1),
            self.hidden,
            act=lambda h: nn.leaky_relu(h, self.leak),
            norm_from=1 if self.batch_norm else None,
            train=train,
            std=self.init_std,
        )
        code = nn.Dense(self.latent_dim, kernel_init=_kernel_init(self.init_std), name="code")(h)
        return 2.0 * jax.nn.sigmoid(code) - 1.0 if self.bounded else code


class CodeDiscriminator(nn.Module):
    """z (+ one-hot label when num_classes > 0) -> one logit: prior sample or encoder code?"""

    hidden: tuple = (1000, 1000)
    num_classes: int = 0

    @nn.compact
    def __call__(self, z, labels=None):
        h = z
        if self.num_classes:
            h = jnp.concatenate([h, jax.nn.one_hot(labels, self.num_classes, dtype=h.dtype)], -1)
        return jnp.squeeze(nn.Dense(1, name="logit")(_trunk(h, self.hidden)), -1)


def _generator(cfg, image_shape):
    """z -> pixel logits shaped like the images (the objective applies the sigmoid)."""
    return MlpGenerator(tuple(cfg.g_hidden), tuple(image_shape))


def build_infogan(cfg, image_shape):
    return {
        "generator": _generator(cfg, image_shape),
        "discriminator": InfoDiscriminator(
            tuple(cfg.d_hidden), int(cfg.num_categories), int(cfg.num_continuous)
        ),
    }


def build_bigan(cfg, image_shape):
    d = tuple(cfg.d_hidden)
    z_hidden = cfg.get("d_z_hidden")
    z_hidden = d[:1] if z_hidden is None else tuple(z_hidden)
    bn, std = bool(cfg.get("batch_norm", False)), float(cfg.get("init_std", 0.0))
    return {
        "generator": MlpGenerator(
            tuple(cfg.g_hidden), tuple(image_shape), bn, bool(cfg.get("g_z_skip", False)), std
        ),
        "encoder": MlpCodeEncoder(
            tuple(cfg.e_hidden),
            int(cfg.z_dim),
            bn,
            bool(cfg.get("bounded_code", False)),
            std,
            float(cfg.get("e_leak", 0.01)),
        ),
        "discriminator": JointDiscriminator(d[:1], z_hidden, d[1:], bn, std),
    }


def build_aae(cfg, image_shape):
    nets = mlp_vae.build_autoencoder(cfg, image_shape)
    nets["discriminator"] = CodeDiscriminator(
        tuple(cfg.d_hidden), int(cfg.prior_classes) if cfg.get("label_prior") else 0
    )
    return nets
