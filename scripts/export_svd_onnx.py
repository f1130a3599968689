#!/usr/bin/env python3
"""Export Stable Video Diffusion (SVD / SVD-XT) from diffusers to Tessera's ONNX model layout.

No maintained ONNX export of SVD exists (Optimum has none; TensorRT's demo exports only the UNet), so
Tessera defines the layout (docs/svd-models.md) and this script writes it from a diffusers
`StableVideoDiffusionPipeline`:

    <out>/model_index.json
    <out>/image_encoder/model.onnx   pixel_values [B,3,224,224] -> image_embeds [B,1024]
    <out>/vae_encoder/model.onnx     sample [B,3,H,W] in [-1,1] -> latent_sample [B,4,H/8,W/8] (latent mean)
    <out>/unet/model.onnx            sample [B,F,8,h,w], timestep [1] float32, encoder_hidden_states [B,1,1024],
                                     added_time_ids [B,3] -> out_sample [B,F,4,h,w]
    <out>/vae_decoder/model.onnx     latent_sample [N,4,h,w], num_frames int64 scalar -> sample [N,3,H,W]
    <out>/scheduler/scheduler_config.json, <out>/feature_extractor/preprocessor_config.json,
    <out>/<sub-model>/config.json

Every batch, frame and spatial axis is dynamic. Sub-models over 2 GB (the UNet, the ViT-H image encoder)
keep their weights in `model.onnx_data` beside `model.onnx`; onnxruntime finds it when the model is loaded
from its path, which is how Tessera loads it.

Usage (needs the weights: accept the model licence on Hugging Face and `huggingface-cli login` first):

    pip install "torch>=2.1" "diffusers>=0.24" transformers accelerate onnx onnxruntime
    python3 scripts/export_svd_onnx.py --model stabilityai/stable-video-diffusion-img2vid-xt --output models/svd-xt
    python3 scripts/export_svd_onnx.py --model stabilityai/stable-video-diffusion-img2vid-xt \\
        --output models/svd-xt-fp16 --fp16 --device cuda          # fp16 UNet + image encoder (VAE stays fp32)

After export each sub-model is checked against PyTorch with onnxruntime (unless --no-verify) at the traced
shapes and at a second, different shape, so an axis that tracing baked in is caught here, not on the farm.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import tempfile
from pathlib import Path

LAYOUT = "svd-onnx-1"
OPSET_DEFAULT = 17


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="diffusers repo id or local folder of a StableVideoDiffusionPipeline")
    p.add_argument("--output", required=True, type=Path, help="directory to write (created; must be empty or absent)")
    p.add_argument("--fp16", action="store_true", help="export the UNet and image encoder in float16 (needs --device cuda)")
    p.add_argument("--fp16-vae", action="store_true", help="also export the VAE in float16 (its config asks for fp32)")
    p.add_argument("--variant", default=None, help="weights variant to download, e.g. fp16")
    p.add_argument("--device", default="cpu", help="torch device used for tracing (cpu or cuda)")
    p.add_argument("--opset", type=int, default=OPSET_DEFAULT, help=f"ONNX opset (default {OPSET_DEFAULT})")
    p.add_argument("--only", nargs="*", choices=["image_encoder", "vae_encoder", "unet", "vae_decoder"],
                   help="export only these sub-models (configs are always written)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime-vs-PyTorch check")
    args = p.parse_args(argv)
    if (args.fp16 or args.fp16_vae) and not args.device.startswith("cuda"):
        p.error("--fp16 needs --device cuda (PyTorch has no float16 kernels for these models on CPU)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    import torch
    from diffusers import StableVideoDiffusionPipeline

    if not args.only and args.output.exists() and any(args.output.iterdir()):
        print(f"error: {args.output} exists and is not empty (use --only to re-export single sub-models)", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)

    load_kwargs = {"variant": args.variant} if args.variant else {}
    pipe = StableVideoDiffusionPipeline.from_pretrained(
        args.model, torch_dtype=torch.float32, image_encoder=load_eager_image_encoder(args.model, load_kwargs), **load_kwargs
    )
    dtype = torch.float16 if args.fp16 else torch.float32
    vae_dtype = torch.float16 if args.fp16_vae else torch.float32
    device = torch.device(args.device)
    pipe.image_encoder.to(device=device, dtype=dtype).eval()
    pipe.unet.to(device=device, dtype=dtype).eval()
    pipe.vae.to(device=device, dtype=vae_dtype).eval()
    # Plain matmul-softmax attention exports on every opset; SDPA needs a newer exporter.
    pipe.unet.set_default_attn_processor()
    pipe.vae.set_default_attn_processor()

    wanted = set(args.only or ["image_encoder", "vae_encoder", "unet", "vae_decoder"])
    exports = [e for e in sub_model_exports(pipe, device, dtype, vae_dtype) if e["name"] in wanted]
    with torch.no_grad():
        for e in exports:
            target = args.output / e["name"] / "model.onnx"
            print(f"exporting {e['name']} -> {target}", flush=True)
            export_onnx(e["module"], e["inputs"], e["input_names"], e["output_names"], e["dynamic_axes"], target, args.opset)
            if not args.no_verify:
                verify(e, target, device)

    write_configs(pipe, args.output, "float16" if args.fp16 else "float32")
    print(f"done: {args.output} (layout {LAYOUT}); point Tessera at it, e.g. EngineHost.imageToVideo('{args.output}', ...)")
    return 0


def load_eager_image_encoder(model: str, load_kwargs: dict):
    """The CLIP vision tower with plain (eager) attention, which every exporter version traces."""
    import torch
    from transformers import CLIPVisionModelWithProjection

    kwargs = dict(subfolder="image_encoder", torch_dtype=torch.float32, **load_kwargs)
    try:
        return CLIPVisionModelWithProjection.from_pretrained(model, attn_implementation="eager", **kwargs)
    except TypeError:  # transformers before attn_implementation existed: eager is all it has
        return CLIPVisionModelWithProjection.from_pretrained(model, **kwargs)


def sub_model_exports(pipe, device, dtype, vae_dtype) -> list[dict]:
    """The four wrappers with their trace inputs, a second set of shapes for verification, names and axes."""
    import torch

    class ImageEncoder(torch.nn.Module):
        """CLIPVisionModelWithProjection -> image_embeds only (the pipeline never uses last_hidden_state)."""

        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, pixel_values):
            return self.encoder(pixel_values=pixel_values).image_embeds

    class VaeEncoder(torch.nn.Module):
        """AutoencoderKLTemporalDecoder encoder -> the latent distribution's mode (its mean), unscaled:
        the SVD pipeline concatenates image latents without multiplying by scaling_factor."""

        def __init__(self, vae):
            super().__init__()
            self.vae = vae

        def forward(self, sample):
            moments = self.vae.quant_conv(self.vae.encoder(sample))
            mean, _logvar = torch.chunk(moments, 2, dim=1)
            return mean

    class Unet(torch.nn.Module):
        """UNetSpatioTemporalConditionModel with its conditioning as plain tensor inputs."""

        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, encoder_hidden_states, added_time_ids):
            return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states,
                             added_time_ids=added_time_ids, return_dict=False)[0]

    class VaeDecoder(torch.nn.Module):
        """Temporal decoder: `num_frames` (int64 scalar) splits the batch into clips for the temporal layers.
        Passed as a tensor so the traced graph reshapes by its value instead of a constant."""

        def __init__(self, vae):
            super().__init__()
            self.vae = vae

        def forward(self, latent_sample, num_frames):
            return self.vae.decode(latent_sample, num_frames=num_frames, return_dict=False)[0]

    embed_dim = pipe.image_encoder.config.projection_dim
    in_ch = pipe.unet.config.in_channels
    latent_ch = pipe.vae.config.latent_channels

    def rand(*shape, dt=dtype):
        return torch.randn(*shape, device=device, dtype=dt)

    def ids(batch):
        return torch.tensor([[6.0, 127.0, 0.02]] * batch, device=device, dtype=dtype)

    def ts(value):
        return torch.tensor([value], device=device, dtype=torch.float32)

    def frames(n):
        return torch.tensor(n, device=device, dtype=torch.int64)

    return [
        {
            "name": "image_encoder",
            "module": ImageEncoder(pipe.image_encoder),
            "inputs": (rand(2, 3, 224, 224),),
            "verify_inputs": (rand(1, 3, 224, 224),),
            "input_names": ["pixel_values"],
            "output_names": ["image_embeds"],
            "dynamic_axes": {"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
            "embed_dim": embed_dim,
        },
        {
            "name": "vae_encoder",
            "module": VaeEncoder(pipe.vae),
            "inputs": (rand(1, 3, 256, 320, dt=vae_dtype),),
            "verify_inputs": (rand(2, 3, 192, 128, dt=vae_dtype),),
            "input_names": ["sample"],
            "output_names": ["latent_sample"],
            "dynamic_axes": {
                "sample": {0: "batch", 2: "height", 3: "width"},
                "latent_sample": {0: "batch", 2: "latent_height", 3: "latent_width"},
            },
        },
        {
            "name": "unet",
            "module": Unet(pipe.unet),
            # latent sides are multiples of 8 (three 2x downsamplings); 6 frames, guidance batch of 2
            "inputs": (rand(2, 6, in_ch, 40, 72), ts(0.3), rand(2, 1, embed_dim), ids(2)),
            "verify_inputs": (rand(1, 3, in_ch, 32, 48), ts(-1.2), rand(1, 1, embed_dim), ids(1)),
            "input_names": ["sample", "timestep", "encoder_hidden_states", "added_time_ids"],
            "output_names": ["out_sample"],
            "dynamic_axes": {
                "sample": {0: "batch", 1: "num_frames", 3: "height", 4: "width"},
                "encoder_hidden_states": {0: "batch"},
                "added_time_ids": {0: "batch"},
                "out_sample": {0: "batch", 1: "num_frames", 3: "height", 4: "width"},
            },
        },
        {
            "name": "vae_decoder",
            "module": VaeDecoder(pipe.vae),
            "inputs": (rand(4, latent_ch, 32, 40, dt=vae_dtype), frames(4)),
            "verify_inputs": (rand(6, latent_ch, 24, 16, dt=vae_dtype), frames(3)),
            "input_names": ["latent_sample", "num_frames"],
            "output_names": ["sample"],
            "dynamic_axes": {
                "latent_sample": {0: "batch", 2: "latent_height", 3: "latent_width"},
                "sample": {0: "batch", 2: "height", 3: "width"},
            },
        },
    ]


def export_onnx(module, inputs, input_names, output_names, dynamic_axes, target: Path, opset: int) -> None:
    """torch.onnx.export (TorchScript exporter) to a temp dir, then one model.onnx (+ model.onnx_data if large)."""
    import onnx
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torch >= 2.9 defaults to the dynamo exporter; dynamic_axes need this one
    with tempfile.TemporaryDirectory(prefix="svd-onnx-") as tmp:
        raw = Path(tmp) / "model.onnx"
        torch.onnx.export(
            module,
            inputs,
            str(raw),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            **kwargs,
        )
        model = onnx.load(str(raw), load_external_data=True)
        model.producer_name = "tessera scripts/export_svd_onnx.py"
        weight_bytes = sum(len(t.raw_data) for t in model.graph.initializer)
        if weight_bytes > 1_500_000_000:  # protobuf cannot hold more than 2 GB in one message
            onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                            location="model.onnx_data", size_threshold=1024)
        else:
            onnx.save_model(model, str(target))
    onnx.checker.check_model(str(target))  # the path form handles external data


def verify(export: dict, target: Path, device) -> None:
    """Runs the ONNX model with onnxruntime and PyTorch on the trace shapes and a second set of shapes."""
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        print("  (onnxruntime not installed: skipping verification)")
        return
    import torch

    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    elif any(t.dtype == torch.float16 for t in export["inputs"]):
        print("  (fp16 model without onnxruntime's CUDA provider: skipping verification)")
        return
    session = ort.InferenceSession(str(target), providers=providers)
    for label, inputs in (("trace shapes", export["inputs"]), ("other shapes", export["verify_inputs"])):
        expected = export["module"](*inputs).float().cpu().numpy()
        feeds = {name: t.cpu().numpy() for name, t in zip(export["input_names"], inputs)}
        got = session.run(None, feeds)[0].astype(np.float32)
        if got.shape != expected.shape:
            raise SystemExit(f"  {export['name']} {label}: onnx shape {got.shape} != torch {expected.shape} "
                             "(an axis was traced as a constant)")
        err = float(np.max(np.abs(got - expected)))
        scale = float(np.max(np.abs(expected))) or 1.0
        print(f"  {export['name']} {label}: max |onnx - torch| = {err:.3g} (output max {scale:.3g})")
        if err > 2e-2 * scale + 1e-3:
            raise SystemExit(f"  {export['name']} {label}: ONNX output differs from PyTorch")


def write_configs(pipe, out: Path, dtype: str) -> None:
    """model_index.json plus the diffusers/transformers configs the Tessera pipeline reads."""
    index = {
        "_class_name": "StableVideoDiffusionPipeline",
        "_diffusers_version": dict(pipe.config).get("_diffusers_version"),
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "scheduler": ["diffusers", type(pipe.scheduler).__name__],
        "unet": ["diffusers", "UNetSpatioTemporalConditionModel"],
        "vae": ["diffusers", "AutoencoderKLTemporalDecoder"],
        "tessera_layout": LAYOUT,
        "tessera_dtype": dtype,
    }
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    pipe.scheduler.save_config(str(out / "scheduler"))
    pipe.feature_extractor.save_pretrained(str(out / "feature_extractor"))
    pipe.unet.save_config(str(out / "unet"))
    for sub in ("vae_encoder", "vae_decoder"):
        pipe.vae.save_config(str(out / sub))
    pipe.image_encoder.config.save_pretrained(str(out / "image_encoder"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
