#!/usr/bin/env python3
"""Bring your own model: networks trained and exported as PyTorch users do, through tinynas as a user runs it.

Each network of the ONNX import tests (tests/engine_onnx/torch_models.py: torchvision's mobile networks,
MLPerf Tiny's ResNet-8 and DS-CNN, a network of unusual windows) is trained briefly on Fashion-MNIST
(Adam, batch 64, the images resized to the network's input and repeated over its channels), its BatchNorm
statistics recomputed on 1,024 training images, and written by torch.onnx.export (default opset, a
dynamic batch axis). The project's own subnets go the same way from their bundle's model_float.onnx
(the shipped Fashion-MNIST supernet, `tinynas export --arch smallest|largest`). Then, as a user would:

    tinynas export --onnx NET.onnx --calibration calibration.npy --out BUNDLE --run-qemu
    tinynas run BUNDLE --input evaluation.npy --json

calibration.npy holds 128 training images not used for training, evaluation.npy 500 test images. Printed
per network: float top-1 (tinynas's float model), the largest |tinynas float - PyTorch| over every output, how often int8
and float top-1 agree, int8 top-1, whether the firmware's outputs are bit-identical to the host's on the
emulated Cortex-M4, instructions per MAC there and the arena.

Usage: bench_onnx_models.py [--tinynas build/tinynas] [--work DIR] [--steps 300] [NETWORK ...]
Needs python3-torch, python3-torchvision and dataset-fashion-mnist (Debian), arm-none-eabi-gcc and
qemu-system-arm for the firmware.
"""
import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "engine_onnx"))
import torch_models  # noqa: E402  (the networks of the import tests, one definition)

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
OWN_SUBNETS = ["own_smallest", "own_largest"]


def read_idx(name):
    with gzip.open(os.path.join(FASHION_MNIST, name)) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def to_input(images, shape, mean, std):
    """Grey 28x28 images -> float NCHW of the network's input shape: resized, repeated over channels."""
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    x = F.interpolate(x, size=tuple(shape[1:]), mode="bilinear", align_corners=False)
    x = (x - mean) / std
    return x.expand(-1, shape[0], -1, -1).contiguous()


def pytorch_normalized(images, shape):
    return to_input(images / 255.0, shape, 0.286, 0.353)  # Fashion-MNIST's pixel mean and std


def train(name, data, steps, log):
    torch.manual_seed(0)
    make, shape = torch_models.NETWORKS[name]
    net = make()
    torch_models.randomize_statistics(net)
    images, labels = data["train_images"], data["train_labels"]
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    net.train()
    batch = 64
    for step in range(steps):
        i = (step * batch) % 48000
        x = pytorch_normalized(images[i:i + batch], shape)
        y = torch.from_numpy(labels[i:i + batch].astype(np.int64))
        out = net(x)
        # conv_windows ends in a softmax, as some classifiers are exported
        loss = F.nll_loss(torch.log(out + 1e-9), y) if name == "conv_windows" else F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 50 == 0:
            log(f"  {name}: step {step + 1}/{steps}, loss {loss.item():.3f}")
    # BatchNorm statistics over 1,024 images (MNASNet's momentum of 3e-4 leaves its running statistics
    # far from the data after a short training).
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        for i in range(48000, 48000 + 1024, 128):
            net(pytorch_normalized(images[i:i + 128], shape))
    net.eval()
    return net, shape


def run(command, log):
    log("  $ " + " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench_onnx_models.py: exit {done.returncode} from {' '.join(command)}\n{done.stderr}")
    return done.stdout


def measure(args, name, onnx_path, calibration, evaluation, labels, reference, log):
    """tinynas export + run on the ONNX file; reference: the float outputs it must reproduce, if known."""
    work = os.path.join(args.work, name)
    np.save(os.path.join(work, "calibration.npy"), calibration)
    np.save(os.path.join(work, "evaluation.npy"), evaluation)
    bundle = os.path.join(work, "bundle")
    exported = run([args.tinynas, "export", "--onnx", onnx_path, "--calibration", os.path.join(work, "calibration.npy"),
                    "--out", bundle, "--run-qemu", "--mcu", "mps2-an386"], log)
    ran = json.loads(run([args.tinynas, "run", bundle, "--input", os.path.join(work, "evaluation.npy"), "--json"], log))
    outputs = ran["outputs"]
    float_out = np.array([o["float"] for o in outputs], np.float32)
    int8_out = np.array([o["int8"] for o in outputs])
    float_top1, int8_top1 = float_out.argmax(1), int8_out.argmax(1)
    identical = re.search(r"mps2-an386: outputs of \d+ inputs bit-identical", exported) is not None
    per_mac = re.search(r"([0-9.]+) instructions/MAC", exported)
    arena = re.search(r"arena (\d+) B", exported)
    return {
        "network": name,
        "float_top1": float((float_top1 == labels).mean()),
        "float_max_error": None if reference is None else float(np.abs(float_out - reference).max()),
        "agreement": float((float_top1 == int8_top1).mean()),
        "int8_top1": float((int8_top1 == labels).mean()),
        "classes_answered": int(len(np.unique(float_top1))),
        "bit_identical": identical,
        "instructions_per_mac": float(per_mac.group(1)) if per_mac else None,
        "arena_bytes": int(arena.group(1)) if arena else None,
    }


def torch_network(args, name, data, log):
    net, shape = train(name, data, args.steps, log)
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    onnx_path = os.path.join(work, name + ".onnx")
    example = pytorch_normalized(data["test_images"][:2], shape)
    torch.onnx.export(net, example, onnx_path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    calibration = pytorch_normalized(data["train_images"][49000:49128], shape)
    evaluation = pytorch_normalized(data["test_images"][:args.images], shape)
    with torch.no_grad():
        reference = net(evaluation).numpy()
    return measure(args, name, onnx_path, calibration.numpy(), evaluation.numpy(), data["test_labels"][:args.images],
                   reference, log)


def own_subnet(args, name, data, log):
    """A subnet of the shipped supernet: its bundle's float ONNX file, imported like a user's model."""
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    source = os.path.join(work, "source")
    run([args.tinynas, "export", "--config", os.path.join(ROOT, "configs/experiments/fashion-mnist.yaml"),
         "--arch", name.split("_")[1], "--mcu", "mps2-an386", "--out", source], log)
    onnx_path = os.path.join(source, "model_float.onnx")
    header = open(os.path.join(source, "model.h")).read()
    size = int(re.search(r"#define MODEL_INPUT_H (\d+)", header).group(1))
    shape = (1, size, size)
    # The shipped supernet reads x = (pixel - 128) / 128 (it states this map in the ONNX metadata).
    to = lambda images: to_input(images.astype(np.float32), shape, 128.0, 128.0).numpy()  # noqa: E731
    calibration = to(data["train_images"][49000:49128])
    evaluation = to(data["test_images"][:args.images])
    # Its float reference is LibTorch's StaticNet, which tests/supernet/test_to_engine.cpp checks the
    # re-imported file against; here the float column is the engine's own.
    return measure(args, name, onnx_path, calibration, evaluation, data["test_labels"][:args.images], None, log)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tinynas", default=os.path.join(ROOT, "build", "tinynas"))
    parser.add_argument("--work", default=os.path.join(ROOT, "build", "bench-onnx-models"))
    parser.add_argument("--steps", type=int, default=300, help="training steps of each PyTorch network")
    parser.add_argument("--images", type=int, default=500, help="test images of the agreement")
    parser.add_argument("networks", nargs="*", default=list(torch_models.NETWORKS) + OWN_SUBNETS)
    args = parser.parse_args()
    for name in args.networks:
        if name not in torch_models.NETWORKS and name not in OWN_SUBNETS:
            parser.error(f"unknown network {name}: one of {', '.join(list(torch_models.NETWORKS) + OWN_SUBNETS)}")
    if not os.access(args.tinynas, os.X_OK):
        sys.exit(f"bench_onnx_models.py: {args.tinynas} is not built")
    if not os.path.isdir(FASHION_MNIST):
        sys.exit("bench_onnx_models.py: needs dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    torch.set_num_threads(2)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    data = {"train_images": read_idx("train-images-idx3-ubyte.gz"), "train_labels": read_idx("train-labels-idx1-ubyte.gz"),
            "test_images": read_idx("t10k-images-idx3-ubyte.gz"), "test_labels": read_idx("t10k-labels-idx1-ubyte.gz")}
    rows = []
    for name in args.networks:
        start = time.time()
        log(f"== {name}")
        rows.append((own_subnet if name in OWN_SUBNETS else torch_network)(args, name, data, log))
        log(f"  {json.dumps(rows[-1])} ({time.time() - start:.0f} s)")
    print("| network | float top-1 | float max error | int8 = float top-1 | int8 top-1 | QEMU bit-identical "
          "| instructions/MAC | arena |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        error = "LibTorch: tested" if r["float_max_error"] is None else f"{r['float_max_error']:.1e}"
        print(f"| {r['network']} | {100 * r['float_top1']:.1f} % | {error} | "
              f"{100 * r['agreement']:.1f} % | {100 * r['int8_top1']:.1f} % | "
              f"{'yes' if r['bit_identical'] else 'NO'} | {r['instructions_per_mac']:.2f} | {r['arena_bytes']:,} B |")


if __name__ == "__main__":
    main()
