"""Torch-Pruning's side of bench/torch-pruning.ts (not part of the product).

  python3 torch-pruning.py export ARCH DIR   torchvision ARCH (seed 0) saved as DIR/ARCH.pt (state dict)
                                             and DIR/ARCH_bn.onnx (opset 13, BatchNorm kept)
  python3 torch-pruning.py prune ARCH PT CRITERION RATIO OUT
                                             one whole Torch-Pruning run: load the state dict, prune
                                             uniformly (final classifier kept), save the pruned model

Torch-Pruning is imported from PYTHONPATH (a checkout of VainF/Torch-Pruning); nothing of it is
copied here. Criteria: bn-gamma -> BNScaleImportance, l1 -> MagnitudeImportance(p=1),
fpgm -> FPGMImportance.
"""
import sys

import torch
import torchvision


def build(arch):
    torch.manual_seed(0)
    return getattr(torchvision.models, arch)(weights=None).eval()


def classifier(arch, model):
    return model.fc if arch.startswith("resnet") else model.classifier[-1]


def export(arch, folder):
    model = build(arch)
    torch.save(model.state_dict(), f"{folder}/{arch}.pt")
    torch.onnx.export(model, torch.randn(1, 3, 224, 224), f"{folder}/{arch}_bn.onnx", opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})


def prune(arch, pt, criterion, ratio, out):
    import torch_pruning as tp
    model = getattr(torchvision.models, arch)(weights=None)
    model.load_state_dict(torch.load(pt))
    model.eval()
    importance = {
        "bn-gamma": lambda: tp.importance.BNScaleImportance(),
        "l1": lambda: tp.importance.MagnitudeImportance(p=1),
        "fpgm": lambda: tp.importance.FPGMImportance(),
    }[criterion]()
    pruner = tp.pruner.MetaPruner(model, torch.randn(1, 3, 224, 224), importance=importance,
                                  pruning_ratio=float(ratio), ignored_layers=[classifier(arch, model)])
    pruner.step()
    torch.save(model, out)


if __name__ == "__main__":
    {"export": export, "prune": prune}[sys.argv[1]](*sys.argv[2:])
