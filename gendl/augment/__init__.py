"""Differentiable image augmentations applied inside a GAN's training step, to real and
generated images alike, so a discriminator trained on little data does not overfit:
DiffAugment (diffaugment.py) and ADA's adaptive pipeline (ada.py)."""
