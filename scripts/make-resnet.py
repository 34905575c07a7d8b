# python3 scripts/make-resnet.py OUTDIR, on a machine with a CUDA GPU, torch and torchvision (the GPU bench, bench/README.md).
# Writes a Triton-style repository: OUTDIR/resnet50/1/model.onnx (FP32 input) and
# OUTDIR/resnet50_fp16/1/model.onnx (FP16 weights and input), both [-1,3,224,224] -> logits [-1,1000],
# plus OUTDIR/resnet50_u8/1/model.onnx: UINT8 NHWC [-1,224,224,3] input, normalisation inside the graph (FP16).
# Weights are random (no download is possible there); speed does not depend on them.
import os, sys, torch, torchvision
out = sys.argv[1] if len(sys.argv) > 1 else "gpu-models"
m = torchvision.models.resnet50().eval()

class U8(torch.nn.Module):
    def __init__(s, net):
        super().__init__(); s.net = net
        s.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        s.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)
    def forward(s, x):
        x = x.permute(0, 3, 1, 2).to(s.mean.dtype)
        return s.net((x - s.mean) / s.std)

def export(model, example, name, in_name="input"):
    d = os.path.join(out, name, "1"); os.makedirs(d, exist_ok=True)
    torch.onnx.export(model, example, os.path.join(d, "model.onnx"), input_names=[in_name], output_names=["logits"],
                      dynamic_axes={in_name: {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    print("wrote", os.path.join(d, "model.onnx"))

with torch.no_grad():
    export(m, torch.randn(1, 3, 224, 224), "resnet50")
    h = m.half().cuda()
    export(h, torch.randn(1, 3, 224, 224).half().cuda(), "resnet50_fp16")
    export(U8(h).half().cuda(), torch.randint(0, 255, (1, 224, 224, 3), dtype=torch.uint8).cuda(), "resnet50_u8")
