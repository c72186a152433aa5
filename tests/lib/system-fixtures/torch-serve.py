#!/usr/bin/python3
"""Test fixture: a PyTorch inference server in Debian's python3-torch (CPU).

Sets its thread count (torch.set_num_threads reads /proc/cpuinfo through cpuinfo), builds a
ResNet-style stem and basic block whose convolutions oneDNN compiles at run time (JIT),
runs it once at start, then answers GET /predict?x=NUMBER on 127.0.0.1:PORT with
{"model": ID, "x": X, "y": Y, "net": N}: Y from the trained model, N from the network. Prints "torch-serve: ..." lines.
"""
import sys

import linreg

print("torch-serve: importing torch", flush=True)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

MODEL_ID, W, B = linreg.load()

torch.set_num_threads(2)
print(f"torch-serve: {torch.get_num_threads()} threads", flush=True)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


torch.manual_seed(0)
net = nn.Sequential(
    nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    nn.MaxPool2d(3, stride=2, padding=1), Block(64), Block(64),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1),
).eval()
IMAGE = torch.ones(1, 3, 224, 224)


def infer(x):
    with torch.no_grad():
        return float(net(IMAGE * x)[0, 0])


infer(1.0)
print(f"torch-serve: model {MODEL_ID} loaded, ResNet block ran (torch {torch.__version__})", flush=True)


linreg.serve(int(sys.argv[1]), (MODEL_ID, W, B), extra=lambda x: {"net": infer(x)})
