#!/usr/bin/env python3
"""Export Stable Cascade or Hunyuan-DiT v1.2 from diffusers to Tessera's ONNX model layouts (docs/model-export.md).

Neither has a maintained Optimum export. This script writes the layouts the engine reads, with the input and output
names of docs/model-export.md (the names of diffusers' forward arguments; for the Hunyuan-DiT transformer those of
Tencent's own v1.2 export, HunyuanDiT trt/export_onnx.py):

  cascade      <out>/cascade    prior (stage C):  model_index.json, text_encoder/, tokenizer/, prior/, scheduler/
               <out>/cascade-b  decoder (stage B): model_index.json, text_encoder/, tokenizer/, decoder/, vqgan/, scheduler/
               <out>/cascade-a  VQGAN (stage A):   model_index.json, vqgan/
  hunyuan-dit  <out>/hunyuan-dit-1.2: model_index.json, text_encoder/ (BERT) + tokenizer/ (vocab.txt),
               text_encoder_2/ (mT5 encoder) + tokenizer_2/ (tokenizer.json), transformer/, vae_decoder/, scheduler/

The directory names are the farm's model ids (the hardware table's `cascade` and `hunyuan-dit-1.2`; Cascade's later
stages are `<id>-b` and `<id>-a`). Sub-models over 2 GB keep their weights in `model.onnx_data` beside `model.onnx`.

Usage (needs the weights and `huggingface-cli login` for gated repos):

    pip install "torch>=2.1" "diffusers>=0.30" transformers accelerate onnx onnxruntime sentencepiece
    python3 scripts/export_cascade_hunyuan_onnx.py cascade --output models
    python3 scripts/export_cascade_hunyuan_onnx.py hunyuan-dit --output models
    (--fp16 --device cuda for float16 UNets / transformer; --opset N; --no-verify)

After each export the ONNX model is run with onnxruntime on the trace inputs and compared with PyTorch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("family", choices=["cascade", "hunyuan-dit"])
    p.add_argument("--output", required=True, type=Path, help="models directory (one folder per stage is written in it)")
    p.add_argument("--prior", default="stabilityai/stable-cascade-prior")
    p.add_argument("--decoder", default="stabilityai/stable-cascade")
    p.add_argument("--hunyuan", default="Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers")
    p.add_argument("--fp16", action="store_true", help="float16 denoisers (needs --device cuda)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-verify", action="store_true")
    args = p.parse_args(argv)
    if args.fp16 and not args.device.startswith("cuda"):
        p.error("--fp16 needs --device cuda")
    return args


def export(module, inputs, input_names, output_names, dynamic_axes, target: Path, opset: int, verify: bool):
    import onnx
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(module, tuple(inputs), str(tmp), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True)
    model = onnx.load(str(tmp))
    large = model.ByteSize() > 2_000_000_000
    onnx.save(model, str(target), save_as_external_data=large, all_tensors_to_one_file=True,
              location="model.onnx_data" if large else None)
    tmp.unlink()
    for extra in target.parent.glob("*.tmp.onnx*"):
        extra.unlink()
    if verify:
        import numpy as np
        import onnxruntime as ort

        sess = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        feeds = {n: x.detach().cpu().numpy() for n, x in zip(input_names, inputs)}
        got = sess.run(output_names, feeds)
        with torch.no_grad():
            want = module(*inputs)
        want = want if isinstance(want, (tuple, list)) else [want]
        for name, g, w in zip(output_names, got, want):
            err = float(np.max(np.abs(g.astype(np.float32) - w.detach().float().cpu().numpy())))
            print(f"  {target.parent.name}/{name}: max |onnx - torch| = {err:.3g}", flush=True)


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, default=str))


def config_of(model) -> dict:
    return {k: v for k, v in dict(model.config).items() if not k.startswith("_") or k == "_class_name"}


def clip_text_encoder(encoder, device, out: Path, opset: int, verify: bool):
    """CLIPTextModelWithProjection -> text_embeds, last_hidden_state, hidden_states.0..L (Optimum's names), taking
    the attention mask too: diffusers' Cascade pipelines pass it, and it changes the padded positions' states."""
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            o = self.m(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            return (o.text_embeds, o.last_hidden_state, *o.hidden_states)

    layers = encoder.config.num_hidden_layers
    names = ["text_embeds", "last_hidden_state"] + [f"hidden_states.{i}" for i in range(layers + 1)]
    ids = torch.ones(1, 77, dtype=torch.int64, device=device)
    mask = torch.ones_like(ids)
    mask[:, 40:] = 0
    axes = {"input_ids": {0: "batch_size"}, "attention_mask": {0: "batch_size"}, **{n: {0: "batch_size"} for n in names}}
    export(Wrapper(encoder).eval(), [ids, mask], ["input_ids", "attention_mask"], names, axes, out / "model.onnx", opset,
           verify)
    write_json(out / "config.json", encoder.config.to_dict())


def export_cascade(args) -> None:
    import torch
    from diffusers import StableCascadeDecoderPipeline, StableCascadePriorPipeline

    dev = torch.device(args.device)
    dtype = torch.float16 if args.fp16 else torch.float32
    prior = StableCascadePriorPipeline.from_pretrained(args.prior, torch_dtype=torch.float32)
    decoder = StableCascadeDecoderPipeline.from_pretrained(args.decoder, torch_dtype=torch.float32)
    c_dir, b_dir, a_dir = args.output / "cascade", args.output / "cascade-b", args.output / "cascade-a"
    v = not args.no_verify

    class Unet(torch.nn.Module):
        def __init__(self, m, names):
            super().__init__()
            self.m, self.names = m, names

        def forward(self, *xs):
            return self.m(**dict(zip(self.names, xs)), return_dict=False)[0]

    class Vqgan(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, latent_sample):
            return self.m.decode(latent_sample).sample

    # Stage C.
    pu = prior.prior.to(dev, dtype).eval()
    pc = pu.config
    names = ["sample", "timestep_ratio", "clip_text_pooled", "clip_text", "clip_img"]
    xs = [torch.randn(2, pc.in_channels, 24, 24), torch.rand(2), torch.randn(2, 1, pc.clip_text_pooled_in_channels),
          torch.randn(2, 77, pc.clip_text_in_channels), torch.zeros(2, 1, pc.clip_image_in_channels)]
    xs = [x.to(dev, dtype) for x in xs]
    axes = {"sample": {0: "batch", 2: "height", 3: "width"}, "out_sample": {0: "batch", 2: "height", 3: "width"},
            **{n: {0: "batch"} for n in names[1:]}}
    export(Unet(pu, names), xs, names, ["out_sample"], axes, c_dir / "prior" / "model.onnx", args.opset, v)
    write_json(c_dir / "prior" / "config.json", config_of(pu))
    clip_text_encoder(prior.text_encoder.to(dev).eval(), dev, c_dir / "text_encoder", args.opset, v)
    prior.tokenizer.save_pretrained(c_dir / "tokenizer")
    write_json(c_dir / "scheduler" / "scheduler_config.json", dict(prior.scheduler.config))
    write_json(c_dir / "model_index.json", {
        "_class_name": "StableCascadePriorPipeline", "prior": ["diffusers", "StableCascadeUNet"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDPMWuerstchenScheduler"], "resolution_multiple": prior.resolution_multiple})

    # Stage B (with its VQGAN, so the directory also decodes on its own).
    du = decoder.decoder.to(dev, dtype).eval()
    dc = du.config
    names = ["sample", "timestep_ratio", "clip_text_pooled", "effnet"]
    xs = [torch.randn(2, dc.in_channels, 256, 256), torch.rand(2), torch.randn(2, 1, dc.clip_text_pooled_in_channels),
          torch.randn(2, dc.effnet_in_channels, 24, 24)]
    xs = [x.to(dev, dtype) for x in xs]
    axes = {"sample": {0: "batch", 2: "height", 3: "width"}, "out_sample": {0: "batch", 2: "height", 3: "width"},
            "effnet": {0: "batch", 2: "effnet_height", 3: "effnet_width"}, "timestep_ratio": {0: "batch"},
            "clip_text_pooled": {0: "batch"}}
    export(Unet(du, names), xs, names, ["out_sample"], axes, b_dir / "decoder" / "model.onnx", args.opset, v)
    write_json(b_dir / "decoder" / "config.json", config_of(du))
    clip_text_encoder(decoder.text_encoder.to(dev).eval(), dev, b_dir / "text_encoder", args.opset, v)
    decoder.tokenizer.save_pretrained(b_dir / "tokenizer")
    write_json(b_dir / "scheduler" / "scheduler_config.json", dict(decoder.scheduler.config))
    vq = decoder.vqgan.to(dev).eval()
    lat = torch.randn(1, vq.config.latent_channels, 64, 64, device=dev)
    vq_axes = {"latent_sample": {0: "batch", 2: "height_latent", 3: "width_latent"},
               "sample": {0: "batch", 2: "height", 3: "width"}}
    export(Vqgan(vq), [lat], ["latent_sample"], ["sample"], vq_axes, b_dir / "vqgan" / "model.onnx", args.opset, v)
    write_json(b_dir / "vqgan" / "config.json", config_of(vq))
    write_json(b_dir / "model_index.json", {
        "_class_name": "StableCascadeDecoderPipeline", "decoder": ["diffusers", "StableCascadeUNet"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDPMWuerstchenScheduler"], "vqgan": ["diffusers", "PaellaVQModel"],
        "latent_dim_scale": decoder.latent_dim_scale})

    # Stage A: the same VQGAN on its own.
    shutil.copytree(b_dir / "vqgan", a_dir / "vqgan", dirs_exist_ok=True)
    write_json(a_dir / "model_index.json", {"_class_name": "PaellaVQModel", "vqgan": ["diffusers", "PaellaVQModel"]})


def export_hunyuan(args) -> None:
    import torch
    from diffusers import HunyuanDiTPipeline
    from transformers import AutoTokenizer

    dev = torch.device(args.device)
    dtype = torch.float16 if args.fp16 else torch.float32
    pipe = HunyuanDiTPipeline.from_pretrained(args.hunyuan, torch_dtype=torch.float32)
    out = args.output / "hunyuan-dit-1.2"
    v = not args.no_verify

    class Transformer(torch.nn.Module):
        """HunyuanDiT2DModel with the argument names of Tencent's v1.2 export (no image_meta_size / style)."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, t, ehs, mask, ehs_t5, mask_t5, cos, sin):
            return self.m(x, t, encoder_hidden_states=ehs, text_embedding_mask=mask, encoder_hidden_states_t5=ehs_t5,
                          text_embedding_mask_t5=mask_t5, image_meta_size=None, style=None,
                          image_rotary_emb=(cos, sin), return_dict=False)[0]

    tr = pipe.transformer.to(dev, dtype).eval()
    head = tr.inner_dim // tr.num_heads
    n = (128 // tr.config.patch_size) ** 2
    xs = [torch.randn(2, 4, 128, 128).to(dev, dtype), torch.tensor([999.0, 999.0]).to(dev, dtype),
          torch.randn(2, 77, tr.config.cross_attention_dim).to(dev, dtype), torch.ones(2, 77, dtype=torch.int64, device=dev),
          torch.randn(2, 256, tr.config.cross_attention_dim_t5).to(dev, dtype),
          torch.ones(2, 256, dtype=torch.int64, device=dev), torch.randn(n, head, device=dev), torch.randn(n, head, device=dev)]
    names = ["x", "t", "encoder_hidden_states", "text_embedding_mask", "encoder_hidden_states_t5",
             "text_embedding_mask_t5", "cos_cis_img", "sin_cis_img"]
    axes = {"x": {0: "2B", 2: "H", 3: "W"}, "output": {0: "2B", 2: "H", 3: "W"}, "cos_cis_img": {0: "seqlen"},
            "sin_cis_img": {0: "seqlen"}, **{k: {0: "2B"} for k in names[1:6]}}
    export(Transformer(tr), xs, names, ["output"], axes, out / "transformer" / "model.onnx", args.opset, v)
    write_json(out / "transformer" / "config.json", config_of(tr))

    class Encoder(torch.nn.Module):
        def __init__(self, m, with_types):
            super().__init__()
            self.m, self.with_types = m, with_types

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            if self.with_types:
                o = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                return o.last_hidden_state, o.pooler_output
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    for folder, enc, length, bert in [("text_encoder", pipe.text_encoder, 77, True),
                                      ("text_encoder_2", pipe.text_encoder_2, 256, False)]:
        ids = torch.ones(1, length, dtype=torch.int64, device=dev)
        ins = [ids, torch.ones_like(ids)] + ([torch.zeros_like(ids)] if bert else [])
        in_names = ["input_ids", "attention_mask"] + (["token_type_ids"] if bert else [])
        outs = ["last_hidden_state", "pooler_output"] if bert else ["last_hidden_state"]
        export(Encoder(enc.to(dev).eval(), bert), ins, in_names, outs, {k: {0: "batch_size"} for k in in_names + outs},
               out / folder / "model.onnx", args.opset, v)
        write_json(out / folder / "config.json", enc.config.to_dict())
    pipe.tokenizer.save_pretrained(out / "tokenizer")  # BertTokenizer: vocab.txt
    AutoTokenizer.from_pretrained(args.hunyuan, subfolder="tokenizer_2", use_fast=True).save_pretrained(out / "tokenizer_2")

    class VaeDecoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, latent_sample):
            return self.m.decode(latent_sample).sample

    vae = pipe.vae.to(dev).eval()
    lat = torch.randn(1, 4, 64, 64, device=dev)
    export(VaeDecoder(vae), [lat], ["latent_sample"], ["sample"],
           {"latent_sample": {0: "batch", 2: "h", 3: "w"}, "sample": {0: "batch", 2: "H", 3: "W"}},
           out / "vae_decoder" / "model.onnx", args.opset, v)
    write_json(out / "vae_decoder" / "config.json", config_of(vae))
    write_json(out / "scheduler" / "scheduler_config.json", dict(pipe.scheduler.config))
    write_json(out / "model_index.json", {
        "_class_name": "HunyuanDiTPipeline", "text_encoder": ["transformers", "BertModel"],
        "tokenizer": ["transformers", "BertTokenizer"], "text_encoder_2": ["transformers", "T5EncoderModel"],
        "tokenizer_2": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "HunyuanDiT2DModel"],
        "vae_decoder": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", "DDPMScheduler"]})


def main(argv) -> int:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    (export_cascade if args.family == "cascade" else export_hunyuan)(args)
    print(f"done: {args.output}; push each folder with `tessera models push ID DIR` or point --models at it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
