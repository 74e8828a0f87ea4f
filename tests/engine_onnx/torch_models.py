#!/usr/bin/env python3
"""Networks as users export them from PyTorch, for the ONNX import tests.

    torch_models.py NAME OUT_DIR

writes OUT_DIR/NAME.onnx (torch.onnx.export, default opset, a dynamic batch axis), NAME.input.f32
(a batch of two NCHW inputs, float32 little-endian), NAME.output.f32 (PyTorch's outputs for them) and
NAME.json (the input and output shapes). Weights are random but seeded, every BatchNorm gets random
statistics so that folding it is tested, and every PReLU random slopes. Needs python3-torch and python3-torchvision.
"""
import json
import sys

import torch
from torch import nn
import torchvision


class ResNet8(nn.Module):
    """MLPerf Tiny's image-classification reference (CIFAR-10, 32x32x3) in PyTorch's usual form."""

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(self.Block(16, 16, 1), self.Block(16, 32, 2), self.Block(32, 64, 2))
        self.pool = nn.AvgPool2d(8)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(x.view(x.size(0), -1))  # exported as Shape -> Gather -> Unsqueeze -> Concat -> Reshape


class DSCNN(nn.Module):
    """MLPerf Tiny's keyword-spotting reference (DS-CNN small, 49x10x1 MFCC) in PyTorch's usual form."""

    def __init__(self, classes=12, channels=64):
        super().__init__()
        layers = [nn.Conv2d(1, channels, (10, 4), (2, 2), (5, 1)), nn.BatchNorm2d(channels), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(channels, channels, 3, 1, 1, groups=channels), nn.BatchNorm2d(channels), nn.ReLU(),
                       nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d((25, 5))
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class ConvWindows(nn.Module):
    """The windows converters write beyond square ones: non-square kernels and strides, dilation, groups,
    a depthwise channel multiplier, a non-square depthwise kernel, dilated and non-square pooling; a PReLU
    with a slope per channel; and a softmax at the end, as classifiers are often exported."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, (3, 5), (2, 1), (1, 2)), nn.BatchNorm2d(16), nn.ReLU(),  # 12x32
            nn.Conv2d(16, 16, 3, 1, 2, dilation=2, groups=4), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 1, 1, groups=16), nn.BatchNorm2d(32), nn.PReLU(32),  # channel multiplier 2
            nn.Conv2d(32, 32, (1, 3), 1, (0, 1), groups=32), nn.ReLU(),
            nn.MaxPool2d((3, 2), (2, 1), dilation=(1, 2)),  # 5x30
            nn.AvgPool2d((2, 3), (2, 3)))  # 2x10
        self.fc = nn.Linear(32 * 2 * 10, classes)

    def forward(self, x):
        return torch.softmax(self.fc(torch.flatten(self.features(x), 1)), 1)


class UpsampleFpn(nn.Module):
    """A small feature pyramid, as detection and segmentation heads build one: coarse features resized by
    nearest-neighbour interpolation to a finer map's size (12x15 from 6x8, a scale of 15/8 across) and by
    a factor of 2, each concatenated with the finer features."""

    def __init__(self, classes=10):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU())  # 24x30
        self.c2 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())  # 12x15
        self.c3 = nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())  # 6x8
        self.mix = nn.Sequential(nn.Conv2d(32, 16, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.head = nn.Sequential(nn.Conv2d(24, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        f1 = self.c1(x)
        f2 = self.c2(f1)
        up = nn.functional.interpolate(self.c3(f2), size=f2.shape[2:], mode="nearest")
        m = self.mix(torch.cat([f2, up], 1))
        up2 = nn.functional.interpolate(m, scale_factor=2.0, mode="nearest")
        return self.fc(torch.flatten(self.head(torch.cat([f1, up2], 1)), 1))


# name -> (constructor, NCHW input shape of one item)
NETWORKS = {
    "mobilenet_v2_w035": (lambda: torchvision.models.mobilenet_v2(width_mult=0.35, num_classes=10), (3, 96, 96)),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(num_classes=10), (3, 96, 96)),
    "mnasnet0_5": (lambda: torchvision.models.mnasnet0_5(num_classes=10), (3, 96, 96)),
    "shufflenet_v2_x0_5": (lambda: torchvision.models.shufflenet_v2_x0_5(num_classes=10), (3, 96, 96)),
    "resnet8": (lambda: ResNet8(), (3, 32, 32)),
    "ds_cnn": (lambda: DSCNN(), (1, 49, 10)),
    "conv_windows": (lambda: ConvWindows(), (3, 24, 32)),
    "upsample_fpn": (lambda: UpsampleFpn(), (3, 24, 30)),
}


def randomize_statistics(net):
    for m in net.modules():
        if isinstance(m, nn.PReLU):  # a slope per channel, not PyTorch's 0.25 for all
            m.weight.data.uniform_(0.0, 0.5)
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in NETWORKS:
        sys.exit("usage: torch_models.py {%s} OUT_DIR" % ",".join(NETWORKS))
    name, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    make, shape = NETWORKS[name]
    net = make()
    randomize_statistics(net)
    net.eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        y = net(x)
    torch.onnx.export(net, x, f"{out}/{name}.onnx", input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    x.numpy().astype("<f4").tofile(f"{out}/{name}.input.f32")
    y.numpy().astype("<f4").tofile(f"{out}/{name}.output.f32")
    with open(f"{out}/{name}.json", "w") as f:
        json.dump({"batch": 2, "input": list(shape), "output": list(y.shape[1:])}, f)


if __name__ == "__main__":
    main()
