#!/usr/bin/python3
"""bnlab's models in PyTorch-Python, for the state_dicts `bnlab export` writes.

    from bnlab_torch import sequential_for_run
    model = sequential_for_run("results/keras-mlp/bn-custom/seed-0")
    model.load_state_dict(torch.load("keras-mlp.pth"))

As a script it checks an export against its run: builds the model from the
run's run.json, loads FILE.pth strictly, evaluates it on the test split and
compares the accuracy with the run's final val_accuracy (metrics.csv):

    /usr/bin/python3 scripts/bnlab_torch.py RUN_DIR FILE.pth [--data-dir DIR] [--tolerance X]

Exit 0 when they agree within the tolerance (default 1e-4: one image in
10,000), 1 when they do not, 2 for bad input. Needs PyTorch 1.13 (Debian's
python3-torch; run it with /usr/bin/python3). docs/export.md gives the default
models' Sequential in full; this file is the general form of build_model in
src/models/model.cpp, and each layer's name is the one bnlab gives it.
"""
import argparse
import csv
import json
import os
import struct
import sys
from collections import OrderedDict

import torch
from torch import nn

IMAGE_SIDE = 28
DATASET_CLASSES = {"mnist": 10, "fashion-mnist": 10}


class BadInput(Exception):
    """Something the user gave is not what this script can use (exit 2)."""


def resolved(config):
    """The defaults that depend on the architecture (experiments/resolve.cpp)."""
    config = dict(config)
    cnn = config["model.arch"] == "cnn"
    if not config["model.hidden"]:
        config["model.hidden"] = [64] if cnn else [128, 64]
    if config.get("model.placement", "auto") == "auto":
        config["model.placement"] = "after" if cnn else "before"
    return config


def groups_for_layer(config, channels, dense):
    """The groups of a group-kind norm layer (models/norm.cpp groups_for_layer)."""
    kind = config["model.norm"]
    if kind in ("layer", "native-layer"):
        return 1
    if kind in ("instance", "native-instance"):
        return channels
    if config["gn.groups"]:
        return min(config["gn.groups"], channels)
    values_per_channel = 1 if dense else 9
    for groups in range(min(32, channels), 0, -1):
        enough = min(8, channels * values_per_channel)
        if channels % groups == 0 and channels // groups * values_per_channel >= enough:
            return groups
    raise BadInput(f"no group count for {channels} channels")


def make_norm(config, features, spatial_dims):
    """BatchNorm (native or bnlab's, also Ghost BN and Batch Renorm: all are
    BatchNorm at inference) or GroupNorm (group, layer and instance kinds:
    GroupNorm with G groups, 1 group, a group per channel)."""
    kind = config["model.norm"]
    eps, affine = config["bn.eps"], config["bn.affine"]
    if kind in ("native", "custom"):
        momentum = None if config["bn.momentum"] == "none" else config["bn.momentum"]
        batch_norm = nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm1d
        return batch_norm(features, eps=eps, momentum=momentum, affine=affine)
    groups = groups_for_layer(config, features, spatial_dims == 0)
    return nn.GroupNorm(groups, features, eps=eps, affine=affine)


def make_activation(name):
    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[name]()


def add_block(layers, config, index, features, spatial_dims):
    """Norm before or after the activation, max-pool on conv blocks, dropout
    at the end or right before the norm (models/model.cpp add_block). bnlab's
    BN with its ReLU inside (bn.fuse_relu) is norm<i> and act<i> here, in
    the placement's order, and with its max-pool inside (bn.fuse_pool)
    norm<i> then pool<i>."""
    kind = config["model.norm"]
    with_norm = kind != "none" and (spatial_dims > 0 or kind not in ("instance", "native-instance"))
    dropout = config["model.dropout"]
    dropout_first = dropout > 0 and with_norm and config["model.dropout_placement"] == "before-norm"

    def add_norm():
        if not with_norm:
            return
        if dropout_first:
            layers[f"dropout{index}"] = nn.Dropout(dropout)
        layers[f"norm{index}"] = make_norm(config, features, spatial_dims)

    if config["model.placement"] == "before":
        add_norm()
    layers[f"act{index}"] = make_activation(config["model.activation"])
    if config["model.placement"] == "after":
        add_norm()
    if spatial_dims == 2:
        layers[f"pool{index}"] = nn.MaxPool2d(2)
    if dropout > 0 and not dropout_first:
        layers[f"dropout{index}"] = nn.Dropout(dropout)


def build_sequential(config, num_classes=10):
    """The nn.Sequential of a run's config (run.json's stage config)."""
    config = resolved(config)
    layers = OrderedDict()
    index, features = 0, IMAGE_SIDE * IMAGE_SIDE
    if config["model.arch"] == "cnn":
        channels, side = 1, IMAGE_SIDE
        for out_channels in config["model.conv_channels"]:
            index += 1
            layers[f"conv{index}"] = nn.Conv2d(channels, out_channels, 3)
            add_block(layers, config, index, out_channels, 2)
            channels, side = out_channels, (side - 2) // 2
        features = channels * side * side
    layers["flatten"] = nn.Flatten()
    for width in config["model.hidden"]:
        index += 1
        layers[f"dense{index}"] = nn.Linear(features, width)
        add_block(layers, config, index, width, 0)
        features = width
    layers["logits"] = nn.Linear(features, num_classes)
    return nn.Sequential(layers)


def read_json(path):
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise BadInput(f"{path}: {error}")


def last_stage_config(run_dir):
    record = read_json(os.path.join(run_dir, "run.json"))
    if record.get("status") != "completed":
        raise BadInput(f"{run_dir}: the run is {record.get('status')}, not completed")
    return record["stages"][-1]["config"]


def sequential_for_run(run_dir):
    config = last_stage_config(run_dir)
    if config["dataset"] not in DATASET_CLASSES:
        raise BadInput(f"{run_dir}: dataset '{config['dataset']}' has no files to evaluate on here")
    return build_sequential(config, DATASET_CLASSES[config["dataset"]])


def read_idx(path, magic, dims):
    """An uncompressed IDX file of unsigned bytes as a uint8 tensor."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise BadInput(f"{path}: {error} (bnlab data fetch)")
    header = 4 + 4 * dims
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        raise BadInput(f"{path}: magic {found:#x}, expected {magic:#x}")
    shape = struct.unpack(f">{dims}I", data[4:header])
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(shape)


def load_split(data_dir, dataset, split, standardize):
    """(N,1,28,28) float32 in [0,1] (or standardised by the training split's
    mean and std, as data.standardize does) and (N) int64 labels."""
    folder = os.path.join(data_dir, dataset)
    images = read_idx(os.path.join(folder, f"{split}-images-idx3-ubyte"), 0x803, 3)
    labels = read_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte"), 0x801, 1)
    images = images.unsqueeze(1).to(torch.float32).div_(255.0)
    if standardize:
        train = load_split(data_dir, dataset, "train", False)[0]
        images = images.sub(train.mean().item()).div_(train.std().item())
    return images, labels.to(torch.int64)


def accuracy(model, images, labels, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            logits = model(images[start:start + batch])
            correct += (logits.argmax(1) == labels[start:start + batch]).sum().item()
    return correct / len(labels)


def final_val_accuracy(run_dir):
    path = os.path.join(run_dir, "metrics.csv")
    try:
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise BadInput(f"{path}: {error}")
    if not rows or "val_accuracy" not in rows[-1]:
        raise BadInput(f"{path}: no val_accuracy row")
    return float(rows[-1]["val_accuracy"])


def check_export(run_dir, pth, data_dir, tolerance):
    config = last_stage_config(run_dir)
    model = sequential_for_run(run_dir)
    model.load_state_dict(torch.load(pth), strict=True)
    images, labels = load_split(data_dir, config["dataset"], "t10k", config["data.standardize"])
    ours = accuracy(model, images, labels)
    theirs = final_val_accuracy(run_dir)
    agree = abs(ours - theirs) <= tolerance
    print(f"{run_dir}: PyTorch {torch.__version__} val_accuracy {ours:.6f}, bnlab {theirs:.6f}, "
          f"|difference| {abs(ours - theirs):.2g} ({'within' if agree else 'beyond'} {tolerance:g})")
    return agree


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("pth")
    parser.add_argument("--data-dir", default=os.environ.get("BNLAB_DATA_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")))
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        return 0 if check_export(args.run_dir, args.pth, args.data_dir, args.tolerance) else 1
    except BadInput as error:
        print(f"bnlab_torch.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
