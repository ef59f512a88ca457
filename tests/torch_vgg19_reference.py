"""Run with a Python that has torch (tests/test_vgg19.py does, where one is installed):
writes, into the folder given as argv[1], a random VGG19 in torchvision's layout saved by
torch.save itself, in both of its formats (`vgg19_zip.pth`, and `vgg19_legacy.pth` like
torchvision's own 2017 file), a fixed input and torch's features of it.

The network is torchvision's `vgg19().features` written out with torch.nn (torchvision need
not be installed): the same modules at the same indices, so the same state-dict keys and
shapes. Its classifier is there for its keys only, at small widths (the loader skips it).
"""

import pathlib
import sys

import numpy as np
import torch
from torch import nn

BLOCKS = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Output layer name -> length of the `features` prefix that ends with it.
PREFIX = {"relu2_2": 9, "relu5_4": 36}


def vgg19():
    layers, c_in = [], 3
    for widths in BLOCKS:
        for w in widths:
            layers += [nn.Conv2d(c_in, w, 3, padding=1), nn.ReLU(inplace=True)]
            c_in = w
        layers.append(nn.MaxPool2d(2, 2))
    net = nn.Module()
    net.features = nn.Sequential(*layers)
    net.classifier = nn.Sequential(
        nn.Linear(512, 8), nn.ReLU(True), nn.Dropout(), nn.Linear(8, 8), nn.ReLU(True),
        nn.Dropout(), nn.Linear(8, 4),
    )  # fmt: skip
    for m in net.features:
        if isinstance(m, nn.Conv2d):  # torchvision's VGG init, with non-zero biases
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.uniform_(m.bias, -0.1, 0.1)
    return net.eval()


def main(out):
    torch.manual_seed(0)
    net = vgg19()
    torch.save(net.state_dict(), out / "vgg19_zip.pth")
    torch.save(net.state_dict(), out / "vgg19_legacy.pth", _use_new_zipfile_serialization=False)
    # Odd sizes after pooling (40 -> 20 -> 10 -> 5 -> 2, 36 -> ... -> 9 -> 4 -> 2).
    images = np.random.default_rng(0).random((2, 40, 36, 3), dtype=np.float32)
    np.save(out / "images.npy", images)
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    with torch.no_grad():
        for layer, n in PREFIX.items():
            y = net.features[:n](x).permute(0, 2, 3, 1).numpy()
            np.save(out / f"{layer}.npy", y)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
