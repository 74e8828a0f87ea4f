#!/usr/bin/env python3
"""Training throughput of a once-for-all supernet in PyTorch, the reference for bench_supernet.

Written for the benchmark from once-for-all's published design (Cai et al., ICLR 2020): an elastic
MobileNetV2-style supernet whose layers slice their weights on every forward pass (the first out/in
channels of the pointwise convs, the first mid channels of the depthwise conv), elastic kernels as
centre crops through learned kernel-transformation matrices, and BatchNorm over the active channels.
The layout is tinynas's MCUNet space (supernet/bench/bench_supernet.cpp): w 0.35, stem 3x3 s2, a first
3x3 block, five stages of up to 4 blocks (strides 2, 2, 2, 1, 2), a last block, global pooling and a
linear classifier; random 32x32x3 inputs, batch 128, SGD with momentum, model and input channels-last.

Prints img/s of the largest subnet and of the 4-pass sandwich step (largest, smallest, two random
subnets, each pass's backward before the next), best of the rounds, like bench_supernet's lines.
Usage: bench_ofa_pytorch.py [--threads 2] [--steps 20] [--rounds 3] [--nchw]
Needs python3-torch (Debian).
"""
import argparse
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_divisible(v, divisor=8):
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


class DynamicBN(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        c, bn = x.size(1), self.bn
        return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                            self.training, bn.momentum, bn.eps)


class ElasticBlock(nn.Module):
    """Expand 1x1 -> depthwise k x k -> project 1x1, each followed by BN (ReLU6 after the first two)."""

    def __init__(self, cin, cout, stride, kernels, expands):
        super().__init__()
        self.kernels, self.stride = sorted(kernels, reverse=True), stride
        self.has_expand = max(expands) != 1
        max_mid = make_divisible(round(cin * max(expands))) if self.has_expand else cin
        kmax = self.kernels[0]
        if self.has_expand:
            self.expand = nn.Parameter(torch.empty(max_mid, cin, 1, 1))
            self.expand_bn = DynamicBN(max_mid)
        self.depthwise = nn.Parameter(torch.empty(max_mid, 1, kmax, kmax))
        self.depthwise_bn = DynamicBN(max_mid)
        self.project = nn.Parameter(torch.empty(cout, max_mid, 1, 1))
        self.project_bn = DynamicBN(cout)
        for w in [self.depthwise, self.project] + ([self.expand] if self.has_expand else []):
            nn.init.kaiming_normal_(w, mode="fan_out")
        self.transforms = nn.ParameterList(
            [nn.Parameter(torch.eye(k * k)) for k in self.kernels[1:]])
        self.residual = stride == 1 and cin == cout
        self.cin = cin
        self.active_kernel, self.active_expand = kmax, max(expands)

    def depthwise_filter(self, mid, k):
        f = self.depthwise[:mid]
        for i, smaller in enumerate(self.kernels[1:]):
            if self.kernels[i] <= k:
                break
            start = (self.kernels[i] - smaller) // 2
            crop = f[:, :, start:start + smaller, start:start + smaller].reshape(mid, smaller * smaller)
            f = (crop @ self.transforms[i]).view(mid, 1, smaller, smaller)
        return f

    def forward(self, x):
        mid = make_divisible(round(self.cin * self.active_expand)) if self.has_expand else self.cin
        h = x
        if self.has_expand:
            h = F.hardtanh(self.expand_bn(F.conv2d(x, self.expand[:mid])), 0, 6)
        k = self.active_kernel
        h = F.conv2d(h, self.depthwise_filter(mid, k), None, self.stride, k // 2, 1, mid)
        h = F.hardtanh(self.depthwise_bn(h), 0, 6)
        h = self.project_bn(F.conv2d(h, self.project[:, :mid]))
        return h + x if self.residual else h


class Supernet(nn.Module):
    base = [32, 16, 24, 40, 80, 96, 192, 320]
    strides = [2, 2, 2, 1, 2, 1]

    def __init__(self, w=0.35, classes=1000, kernels=(3, 5, 7), expands=(3, 4, 6), max_depth=4):
        super().__init__()
        width = [make_divisible(b * w) for b in self.base]
        self.stem = nn.Conv2d(3, width[0], 3, 2, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(width[0])
        self.first = ElasticBlock(width[0], width[1], 1, [3], [1])
        self.stages = nn.ModuleList()
        ch = width[1]
        for s in range(5):
            blocks = nn.ModuleList()
            for j in range(max_depth):
                blocks.append(ElasticBlock(ch, width[s + 2], self.strides[s] if j == 0 else 1, kernels, expands))
                ch = width[s + 2]
            self.stages.append(blocks)
        self.last = ElasticBlock(ch, width[7], self.strides[5], kernels, expands)
        self.classifier = nn.Linear(width[7], classes)
        self.depths = [max_depth] * 5

    def set_active(self, ks, es, ds):
        blocks = [b for stage in self.stages for b in stage] + [self.last]
        for b, k, e in zip(blocks, ks, es):
            b.active_kernel, b.active_expand = k, e
        self.depths = ds

    def forward(self, x):
        h = F.hardtanh(self.stem_bn(self.stem(x)), 0, 6)
        h = self.first(h)
        for stage, d in zip(self.stages, self.depths):
            for b in stage[:d]:
                h = b(h)
        h = self.last(h)
        return self.classifier(h.mean((2, 3)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--nchw", action="store_true", help="keep PyTorch's default NCHW layout")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = random.Random(1)
    net = Supernet()
    x = torch.randn(128, 3, 32, 32)
    y = torch.randint(1000, (128,))
    if not a.nchw:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    blocks = 21
    largest = ([7] * blocks, [6] * blocks, [4] * 5)
    smallest = ([3] * blocks, [3] * blocks, [2] * 5)

    def random_arch():
        return ([rng.choice([3, 5, 7]) for _ in range(blocks)], [rng.choice([3, 4, 6]) for _ in range(blocks)],
                [rng.choice([2, 3, 4]) for _ in range(5)])

    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def train(archs_of_step):
        net.train()
        for _ in range(a.steps):
            opt.zero_grad()
            archs = archs_of_step()
            for arch in archs:
                net.set_active(*arch)
                (F.cross_entropy(net(x), y) / len(archs)).backward()
            opt.step()

    cases = [("train supernet, largest subnet", lambda: train(lambda: [largest])),
             ("train supernet, 4-pass sandwich step (images per optimizer step)",
              lambda: train(lambda: [largest, smallest, random_arch(), random_arch()]))]
    for _, run in cases:
        run()  # warm-up
    best = [1e30] * len(cases)
    for _ in range(a.rounds):
        for i, (_, run) in enumerate(cases):
            t0 = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - t0)
    layout = "NCHW" if a.nchw else "channels-last"
    print(f"once-for-all supernet in PyTorch {torch.__version__} ({layout}): w 0.35, 32x32x3 random input, batch 128, "
          f"{a.threads} threads, {a.steps} steps x {a.rounds} rounds (best round)")
    for (name, _), t in zip(cases, best):
        print(f"  {name:<70s} {128 * a.steps / t:8.1f} img/s")


if __name__ == "__main__":
    main()
