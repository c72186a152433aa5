#!/usr/bin/python3
"""Test fixture: a PyTorch inference server in Debian's python3-torch (CPU).

Sets its thread count (torch.set_num_threads reads /proc/cpuinfo through cpuinfo), builds a
ResNet-style stem and basic block whose convolutions oneDNN compiles at run time (JIT),
runs it once at start, then answers GET /predict?x=NUMBER on 127.0.0.1:PORT with
{"model": ID, "x": X, "y": Y, "net": N}: Y from the trained model, N from the network. Prints "torch-serve: ..." lines.
"""
import http.server
import json
import os
import sys
import urllib.parse

print("torch-serve: importing torch", flush=True)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


def load(path):
    values = {}
    with open(os.path.join(path, "model")) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            values[key] = value
    return values["id"], float(values["w"]), float(values["b"])


MODEL_ID, W, B = load(os.environ["DEFERRED_MODEL_PATH"])

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


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/predict":
            self.send_error(404)
            return
        x = float(urllib.parse.parse_qs(url.query).get("x", ["0"])[0])
        body = json.dumps({"model": MODEL_ID, "x": x, "y": W * x + B, "net": infer(x)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
