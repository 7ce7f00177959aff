// Names shared between torch.onnx exports and the Torch-Pruning reference files.

/** PyTorch module path from a torch.onnx export node name: '/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1'. */
export function moduleName(onnxName: string): string {
  const segs = onnxName.split('/').filter(Boolean).slice(0, -1);
  const out: string[] = [];
  for (const s of segs) {
    if (out.length && s.startsWith(out[out.length - 1] + '.')) out[out.length - 1] = s;
    else out.push(s);
  }
  return out.join('.');
}
