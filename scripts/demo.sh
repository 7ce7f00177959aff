#!/usr/bin/env bash
# The main job on the bundled sample: inspect the Fashion-MNIST BN-CNN, prune every channel whose
# BatchNorm γ is below 0.01 (Network Slimming's global threshold), and evaluate the original and the
# pruned model in ONNX Runtime on the 1000 bundled test images with their labels (accuracy of both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -f dist/cli.js ]] || npm run build --silent
MODEL=samples/fmnist/fmnist_bncnn_sparse_bn.onnx
IMAGES=samples/fmnist/fmnist_test1000_x_1000x1x28x28.f32
LABELS=samples/fmnist/fmnist_test1000_y.u8
echo "== onnx-pruner inspect $MODEL"
node dist/cli.js inspect "$MODEL"
echo
echo "== onnx-pruner prune $MODEL --criterion bn-gamma --threshold 0.01 --eval $IMAGES --labels $LABELS"
node dist/cli.js prune "$MODEL" --criterion bn-gamma --threshold 0.01 --force \
  --eval "$IMAGES" --labels "$LABELS"
