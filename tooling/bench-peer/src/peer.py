"""PyTorch side of `pnpm bench:peer` (tooling/bench-peer/src/peer.ts drives it).

Reads one JSON request per line on stdin, {"workload": name, "reps": k}, runs
that workload k times after building it (and warming it up) on first use, and
answers one JSON line {"ms": [per-rep milliseconds]}. The workloads mirror the
usam ones in peer.ts: the same models, batch sizes, losses and gradient counts.
PyTorch runs on the CPU with torch.set_num_threads(THREADS) (default 1).
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("PEER_THREADS", "1")))
torch.manual_seed(0)
BATCH = 128


def mlp():
    layers, fan_in = [], 784
    for _ in range(5):
        layers += [nn.Linear(fan_in, 128), nn.ReLU()]
        fan_in = 128
    return nn.Sequential(*layers, nn.Linear(128, 10))


def cnn(channels, size):
    flat = 64 * (((size - 2) // 2 - 2) // 2) ** 2
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, 10))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(nn.Module):
    """kuangliu/pytorch-cifar's ResNet-18, the model @usam/models mirrors."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(512, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def data(shape, n=BATCH):
    return torch.rand(n, *shape), torch.randint(0, 10, (n,))


def loss_fn(model, xs, ys):
    return F.cross_entropy(model(xs), ys)


def gradient(model, xs, ys):
    params = list(model.parameters())
    return torch.autograd.grad(loss_fn(model, xs, ys), params)


def sgd_step(model, shape, n=BATCH):
    xs, ys = data(shape, n)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def run():
        opt.zero_grad()
        loss_fn(model, xs, ys).backward()
        opt.step()

    return run


def sam_step(model, xs, ys, rho=0.05):
    """SAM: g at x, ε = ρ g/‖g‖, the gradient at x + ε drives the step."""
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=0.01)

    def run():
        g = gradient(model, xs, ys)
        norm = torch.sqrt(sum((gi * gi).sum() for gi in g))
        eps = [rho * gi / (norm + 1e-12) for gi in g]
        with torch.no_grad():
            for p, e in zip(params, eps):
                p.add_(e)
        g2 = gradient(model, xs, ys)
        with torch.no_grad():
            for p, e, gi in zip(params, eps, g2):
                p.sub_(e)
                p.grad = gi
        opt.step()

    return run


def frob_sam_step(model, xs, ys, rho=0.005, lam=0.00125, n=2):
    """Frob-SAM (covariance form): g = ∇L + λ(4/ρ²)·ĉov(L_i, ∇L_i), z_i ~ N(0, I)."""
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=0.01)

    def run():
        g0 = gradient(model, xs, ys)
        losses, grads = [], []
        saved = [p.detach().clone() for p in params]
        for _ in range(n):
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s + rho * torch.randn_like(s))
            loss = loss_fn(model, xs, ys)
            grads.append(torch.autograd.grad(loss, params))
            losses.append(loss.detach())
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
            mean_loss = sum(losses) / n
            scale = lam * 4 / rho**2 / (n - 1)
            for i, p in enumerate(params):
                mean_g = sum(g[i] for g in grads) / n
                cov = sum((l - mean_loss) * (g[i] - mean_g) for l, g in zip(losses, grads))
                p.grad = g0[i] + scale * cov
        opt.step()

    return run


def hvp(model, batches, v):
    """Exact Hv = ∇(v·∇L) over the batches, weighted by batch size."""
    params = list(model.parameters())
    acc = [torch.zeros_like(p) for p in params]
    total = 0
    for xs, ys in batches:
        g = torch.autograd.grad(loss_fn(model, xs, ys), params, create_graph=True)
        dot = sum((gi * vi).sum() for gi, vi in zip(g, v))
        hv = torch.autograd.grad(dot, params)
        for a, h in zip(acc, hv):
            a.add_(h, alpha=len(xs))
        total += len(xs)
    return [a / total for a in acc]


def hessian_workload(kind):
    model = mlp()
    xs, ys = data([784], 1280)
    batches = [(xs[i:i + BATCH], ys[i:i + BATCH]) for i in range(0, 1280, BATCH)]
    params = list(model.parameters())
    if kind == "hvp":
        v = [torch.randn_like(p) for p in params]
        return lambda: hvp(model, batches, v)

    def probes():
        # Two Rademacher probes (the usam side's minimum), timed per probe.
        for _ in range(2):
            v = [torch.randint(0, 2, p.shape).float() * 2 - 1 for p in params]
            hv = hvp(model, batches, v)
            sum((a * b).sum() for a, b in zip(v, hv)).item()

    return probes


def matmul_workload():
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    return lambda: a @ b


def conv_workload():
    """One 3×3 convolution, forward and both gradients (a ResNet-18 stage-1 layer)."""
    x = torch.rand(32, 64, 32, 32, requires_grad=True)
    w = torch.randn(64, 64, 3, 3, requires_grad=True)

    def run():
        y = F.conv2d(x, w, padding=1)
        torch.autograd.grad(y, [x, w], torch.ones_like(y))

    return run


def build(name):
    if name == "matmul-512":
        return matmul_workload()
    if name == "conv3x3":
        return conv_workload()
    if name == "mlp-gradient":
        model, (xs, ys) = mlp(), data([784])
        return lambda: gradient(model, xs, ys)
    if name == "mlp-sgd":
        return sgd_step(mlp(), [784])
    if name == "mlp-sam":
        return sam_step(mlp(), *data([784]))
    if name == "mlp-frobsam":
        return frob_sam_step(mlp(), *data([784]))
    if name in ("hvp", "probe"):
        return hessian_workload(name)
    if name == "cnn-28x28x1":
        return sgd_step(cnn(1, 28), [1, 28, 28])
    if name == "cnn-32x32x3":
        return sgd_step(cnn(3, 32), [3, 32, 32])
    if name.startswith("resnet18-b"):
        model = ResNet18()
        model.train()
        return sgd_step(model, [3, 32, 32], int(name[len("resnet18-b"):]))
    raise ValueError(f"unknown workload {name}")


def main():
    built = {}
    print(json.dumps({"ready": True, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        name = request["workload"]
        try:
            if name not in built:
                built[name] = build(name)
                for _ in range(request.get("warmup", 2)):
                    built[name]()
            times = []
            for _ in range(request["reps"]):
                start = time.perf_counter()
                built[name]()
                times.append((time.perf_counter() - start) * 1000)
            print(json.dumps({"ms": times}), flush=True)
        except Exception as error:  # reported to the driver, which skips the row
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
        if request.get("last"):
            built.pop(name, None)


if __name__ == "__main__":
    main()
