/**
 * Prompt → CLIP text-encoder outputs, as diffusers' `encode_prompt` reads them from Optimum exports:
 * `input_ids` (int32 or int64, from the session) → `last_hidden_state`, the pooled vector (`pooler_output` of
 * CLIPTextModel or `text_embeds` of CLIPTextModelWithProjection) and, for SDXL / SD3, the penultimate layer
 * `hidden_states[-2]`. Optimum exports `hidden_states.0 … hidden_states.L` (L = layers) and its runtime rebuilds
 * diffusers' tuple as [hidden_states.0 … hidden_states.L−1, last_hidden_state], so `[-2]` is `hidden_states.{L−1}`:
 * `hidden_states.11` for CLIP-L (12 layers), `hidden_states.31` for OpenCLIP-G (32 layers).
 */
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { SdModelLayoutError } from './errors.js';
import { floatOutput, hasInput, idsFeed, requireInput, type HostTensor, type SdModel } from './sd-model.js';

/** Which hidden states a pipeline conditions on. */
export type ClipLayer = 'last' | 'penultimate';

/** One prompt through one CLIP encoder (batch 1). */
export interface ClipEncoded {
  /** [seqLen, dim] row-major: last_hidden_state or hidden_states.{L−1}. */
  hidden: Float32Array;
  seqLen: number;
  dim: number;
  /** pooler_output / text_embeds, or null when the export has neither. */
  pooled: Float32Array | null;
}

/** Runs `model` on the tokenized `text`. Throws SdModelLayoutError if the export lacks the needed outputs. */
export async function encodeClip(
  model: SdModel,
  tokenizer: ClipTokenizer,
  text: string,
  layer: ClipLayer,
): Promise<ClipEncoded> {
  const hiddenName = layer === 'last' ? 'last_hidden_state' : penultimateName(model);
  const pooledName = ['text_embeds', 'pooler_output'].find((n) => model.outputs.some((o) => o.name === n));
  if (!model.outputs.some((o) => o.name === hiddenName)) {
    throw new SdModelLayoutError(model.modelPath, `has no output '${hiddenName}'`);
  }
  const enc = tokenizer.encodeForModel(text);
  const dims = [1, enc.inputIds.length];
  const feeds: Record<string, HostTensor> = {
    input_ids: idsFeed(requireInput(model, 'input_ids'), enc.inputIds, dims),
  };
  if (hasInput(model, 'attention_mask'))
    feeds.attention_mask = idsFeed(requireInput(model, 'attention_mask'), enc.attentionMask, dims);
  const out = await model.run(feeds, pooledName ? [hiddenName, pooledName] : [hiddenName]);
  const hidden = floatOutput(model, out, hiddenName);
  if (hidden.dims.length !== 3 || hidden.dims[0] !== 1) {
    throw new SdModelLayoutError(
      model.modelPath,
      `output '${hiddenName}' has dims [${hidden.dims}], want [1, seq, dim]`,
    );
  }
  return {
    hidden: hidden.data,
    seqLen: hidden.dims[1],
    dim: hidden.dims[2],
    pooled: pooledName ? floatOutput(model, out, pooledName).data : null,
  };
}

/** `hidden_states.{L−1}` where L is the largest N of the model's `hidden_states.N` outputs. */
export function penultimateName(model: SdModel): string {
  let last = -1;
  for (const o of model.outputs) {
    const m = /^hidden_states\.(\d+)$/.exec(o.name);
    if (m) last = Math.max(last, Number(m[1]));
  }
  if (last < 1) {
    throw new SdModelLayoutError(
      model.modelPath,
      'has no hidden_states.N outputs; SDXL / SD3 condition on the penultimate layer — export the text encoders with output_hidden_states (as Optimum does for these pipelines)',
    );
  }
  return `hidden_states.${last - 1}`;
}

/** The pooled vector, or SdModelLayoutError when the encoder has none. */
export function requirePooled(model: SdModel, e: ClipEncoded): Float32Array {
  if (!e.pooled) throw new SdModelLayoutError(model.modelPath, "has neither 'text_embeds' nor 'pooler_output'");
  return e.pooled;
}

/** Concatenates [seq, a] and [seq, b] row-wise along the feature axis → [seq, a + b] (torch.cat(dim=-1)). */
export function concatFeatures(
  a: Float32Array,
  aDim: number,
  b: Float32Array,
  bDim: number,
  seqLen: number,
): Float32Array {
  const out = new Float32Array(seqLen * (aDim + bDim));
  for (let s = 0; s < seqLen; s++) {
    out.set(a.subarray(s * aDim, (s + 1) * aDim), s * (aDim + bDim));
    out.set(b.subarray(s * bDim, (s + 1) * bDim), s * (aDim + bDim) + aDim);
  }
  return out;
}
