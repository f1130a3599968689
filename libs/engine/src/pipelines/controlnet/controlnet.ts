/**
 * ControlNet for the SD 1.x and SDXL pipelines, as diffusers' StableDiffusion(XL)ControlNetPipeline with a
 * MultiControlNetModel: every step, each active ControlNet sees the UNet's own inputs (latent batch, timestep,
 * prompt embeddings, SDXL's text_embeds / time_ids) plus its control image and `conditioning_scale`; the residuals of
 * all ControlNets are summed in order (float32) and fed to the UNet's residual inputs.
 *
 * Signatures (the layout docs/image-models.md defines; there is no Optimum export of ControlNet pipelines):
 * - a ControlNet directory: `model.onnx` with inputs `sample`, `timestep`, `encoder_hidden_states`,
 *   `controlnet_cond` [B, 3, H, W] (the control image in [0, 1], diffusers' control image processor with
 *   do_normalize=False), `conditioning_scale` (float scalar) (+ `text_embeds`, `time_ids` for SDXL) → outputs
 *   `down_block_res_sample_0 … _N−1` and `mid_block_res_sample`;
 * - a ControlNet-capable UNet: the usual inputs plus `down_block_additional_residual_0 … _N−1` and
 *   `mid_block_additional_residual`. Without ControlNets (or outside a ControlNet's guidance window) it gets zeros,
 *   whose shapes come from unet/config.json (block_out_channels, layers_per_block), so a conditioning scale of 0
 *   gives the same bytes as no ControlNet.
 *
 * Guidance window (diffusers' `controlnet_keep`): at step i of n a ControlNet is active unless i/n < start or
 * (i+1)/n > end. An inactive ControlNet (or scale 0) is not run: diffusers runs it with scale 0, whose residuals are
 * ±0 and leave the UNet's sums unchanged.
 */
import { join } from 'node:path';
import type { RgbImage } from '../../rgb-image.js';
import { SdModelLayoutError, SdParamsError } from '../sd/errors.js';
import { floatFeed, floatOutput, hasInput, type HostTensor, type SdModel } from '../sd/sd-model.js';
import { CONTROL_PREPROCESSORS, preprocessControlImage, type ControlPreprocessor } from './preprocess.js';

const f32 = Math.fround;

/** One ControlNet of a run. */
export interface ControlNetParams {
  /** ControlNet directory (`model.onnx` + `config.json`) as the engine sees it. */
  dir: string;
  /** The control image at the output size: already a control map (depth, pose, …) or turned into one by `preprocess`. */
  image: RgbImage;
  /** In-process preprocessing of `image` first: 'canny' edges or 'blur' (default 'none'). */
  preprocess?: ControlPreprocessor;
  /** `controlnet_conditioning_scale`, default 1. */
  scale?: number;
  /** `control_guidance_start` / `control_guidance_end`: fractions of the schedule, default 0 and 1. */
  guidanceStart?: number;
  guidanceEnd?: number;
}

/** What a pipeline needs to run ControlNets: an opener (cached per directory) and the UNet's config. */
export interface ControlNetSupport {
  open(dir: string): Promise<SdModel>;
  unetConfig: Readonly<Record<string, unknown>>;
  /** Closes every ControlNet opened. */
  close(): Promise<void>;
}

/** A ControlNetSupport opening `<dir>/model.onnx` through `load`, each directory once. */
export function controlNetSupport(
  load: (modelPath: string) => Promise<SdModel>,
  unetConfig: Readonly<Record<string, unknown>>,
): ControlNetSupport {
  const opened = new Map<string, Promise<SdModel>>();
  return {
    unetConfig,
    open(dir) {
      let m = opened.get(dir);
      if (!m) {
        m = load(join(dir, 'model.onnx'));
        opened.set(dir, m);
        m.catch(() => opened.delete(dir));
      }
      return m;
    },
    async close() {
      const all = [...opened.values()];
      opened.clear();
      await Promise.allSettled(all.map(async (m) => (await m).close()));
    },
  };
}

/** diffusers' `controlnet_keep[i]` for one ControlNet: 1 inside [start, end] of the schedule, else 0. */
export function controlNetKeep(i: number, n: number, start: number, end: number): number {
  return i / n < start || (i + 1) / n > end ? 0 : 1;
}

/**
 * The residual shapes [C, h, w] of a diffusers UNet2DConditionModel for an h×w latent: conv_in's output, then per
 * down block `layers_per_block` resnet outputs and (all blocks but the last) the downsampler's; mid = the last.
 */
export function residualShapes(
  unetConfig: Readonly<Record<string, unknown>>,
  h: number,
  w: number,
): { down: number[][]; mid: number[] } {
  const blocks = unetConfig.block_out_channels;
  const layers = typeof unetConfig.layers_per_block === 'number' ? unetConfig.layers_per_block : 2;
  if (!Array.isArray(blocks) || !blocks.every((c) => typeof c === 'number')) {
    throw new SdModelLayoutError('unet/config.json', 'block_out_channels is needed for ControlNet residual shapes');
  }
  const down: number[][] = [[blocks[0], h, w]];
  let [hh, ww] = [h, w];
  blocks.forEach((ch: number, b: number) => {
    for (let l = 0; l < layers; l++) down.push([ch, hh, ww]);
    if (b < blocks.length - 1) {
      [hh, ww] = [Math.ceil(hh / 2), Math.ceil(ww / 2)];
      down.push([ch, hh, ww]);
    }
  });
  return { down, mid: [blocks[blocks.length - 1], hh, ww] };
}

/** A validated ControlNet of one run, its session and its control image as [3, H, W] in [0, 1]. */
interface Unit {
  model: SdModel;
  cond: Float32Array;
  scale: number;
  start: number;
  end: number;
}

/** The ControlNets of one run and the UNet's residual inputs. Create with `ControlNetStack.create`. */
export class ControlNetStack {
  private constructor(
    private readonly unet: SdModel,
    private readonly units: Unit[],
    private readonly downNames: string[],
    private readonly zeros: { down: number[][]; mid: number[] } | null,
    private readonly size: { width: number; height: number },
  ) {}

  /**
   * Validates `params` (SdParamsError naming `controlNets[i].field`), opens the ControlNets and checks that the UNet
   * has residual inputs when any is given. `latent` is the latent grid of the run.
   */
  static async create(
    support: ControlNetSupport | undefined,
    params: readonly ControlNetParams[] | undefined,
    unet: SdModel,
    image: { width: number; height: number },
    latent: { height: number; width: number },
  ): Promise<ControlNetStack> {
    const list = params ?? [];
    const capable = hasInput(unet, 'mid_block_additional_residual');
    if (list.length && (!capable || !support)) {
      throw new SdModelLayoutError(
        unet.modelPath,
        'has no ControlNet residual inputs (down_block_additional_residual_N, mid_block_additional_residual); export the UNet as docs/image-models.md describes',
      );
    }
    const downNames = unet.inputs
      .map((i) => /^down_block_additional_residual_(\d+)$/.exec(i.name))
      .filter((m): m is RegExpExecArray => m !== null)
      .sort((a, b) => Number(a[1]) - Number(b[1]))
      .map((m) => m[0]);
    const units: Unit[] = [];
    for (const [k, c] of list.entries()) {
      const at = `controlNets[${k}]`;
      const scale = c.scale ?? 1;
      const start = c.guidanceStart ?? 0;
      const end = c.guidanceEnd ?? 1;
      if (!Number.isFinite(scale) || scale < 0 || scale > 10) {
        throw new SdParamsError(`${at}.scale`, `must be in 0..10, got ${scale}`);
      }
      if (!(start >= 0 && start < end && end <= 1)) {
        throw new SdParamsError(`${at}.guidanceStart`, `need 0 ≤ start < end ≤ 1, got ${start}..${end}`);
      }
      if (c.preprocess !== undefined && !CONTROL_PREPROCESSORS.includes(c.preprocess)) {
        throw new SdParamsError(`${at}.preprocess`, `must be one of ${CONTROL_PREPROCESSORS.join(', ')}`);
      }
      const img = c.image && c.preprocess ? preprocessControlImage(c.image, c.preprocess) : c.image;
      if (
        !img ||
        img.width !== image.width ||
        img.height !== image.height ||
        img.data.length !== img.width * img.height * 3
      ) {
        throw new SdParamsError(
          `${at}.image`,
          `must be RGB8 at the output size ${image.width}x${image.height}, got ${img?.width}x${img?.height}`,
        );
      }
      units.push({ model: await support!.open(c.dir), cond: controlImageTensor(img), scale, start, end });
    }
    const zeros = capable && support ? residualShapes(support.unetConfig, latent.height, latent.width) : null;
    if (zeros && zeros.down.length !== downNames.length) {
      throw new SdModelLayoutError(
        unet.modelPath,
        `has ${downNames.length} down residual inputs but unet/config.json implies ${zeros.down.length}`,
      );
    }
    return new ControlNetStack(unet, units, downNames, zeros, image);
  }

  /**
   * The UNet's residual feeds for step `i` of `n`: the summed residuals of the active ControlNets, zeros where none
   * is active, nothing when the UNet has no residual inputs. `feeds` are the UNet's own inputs of this step (the
   * ControlNets take the ones they declare); `batch` is the UNet batch (2 with classifier-free guidance).
   */
  async residuals(
    i: number,
    n: number,
    feeds: Record<string, HostTensor>,
    batch: number,
  ): Promise<Record<string, HostTensor>> {
    if (!this.zeros) return {};
    const names = [...this.downNames, 'mid_block_additional_residual'];
    const sums: ({ data: Float32Array; dims: number[] } | null)[] = names.map(() => null);
    for (const u of this.units) {
      const scale = f32(u.scale * controlNetKeep(i, n, u.start, u.end));
      if (scale === 0) continue;
      const out = await u.model.run(this.controlFeeds(u, scale, feeds, batch));
      names.forEach((name, k) => {
        const outName = k < this.downNames.length ? `down_block_res_sample_${k}` : 'mid_block_res_sample';
        const r = floatOutput(u.model, out, outName);
        const prev = sums[k];
        if (!prev) sums[k] = { data: r.data.slice(), dims: r.dims };
        else if (prev.data.length !== r.data.length) {
          throw new SdModelLayoutError(
            u.model.modelPath,
            `${outName} has dims [${r.dims}], another ControlNet [${prev.dims}]`,
          );
        } else for (let j = 0; j < prev.data.length; j++) prev.data[j] = f32(prev.data[j] + r.data[j]);
      });
    }
    const result: Record<string, HostTensor> = {};
    names.forEach((name, k) => {
      const info = this.unet.inputs.find((x) => x.name === name)!;
      const shape = k < this.downNames.length ? this.zeros!.down[k] : this.zeros!.mid;
      const s = sums[k] ?? { data: new Float32Array(batch * shape[0] * shape[1] * shape[2]), dims: [batch, ...shape] };
      result[name] = floatFeed(info, s.data, s.dims);
    });
    return result;
  }

  /** The ControlNet's feeds: the UNet inputs it declares, the control image (repeated per batch) and the scale. */
  private controlFeeds(
    u: Unit,
    scale: number,
    feeds: Record<string, HostTensor>,
    batch: number,
  ): Record<string, HostTensor> {
    const out: Record<string, HostTensor> = {};
    for (const info of u.model.inputs) {
      if (info.name === 'controlnet_cond') {
        const cond = new Float32Array(batch * u.cond.length);
        for (let b = 0; b < batch; b++) cond.set(u.cond, b * u.cond.length);
        out.controlnet_cond = floatFeed(info, cond, [batch, 3, this.size.height, this.size.width]);
      } else if (info.name === 'conditioning_scale') {
        out.conditioning_scale = floatFeed(info, Float32Array.of(scale), info.shape.length === 0 ? [] : [1]);
      } else if (feeds[info.name]) {
        out[info.name] = feeds[info.name];
      } else {
        throw new SdModelLayoutError(
          u.model.modelPath,
          `input '${info.name}' has no counterpart among the UNet's inputs`,
        );
      }
    }
    return out;
  }
}

/** RGB8 → [3, H, W] float32 in [0, 1] (x / 255, as diffusers' control image processor with do_normalize=False). */
export function controlImageTensor(img: RgbImage): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = f32(img.data[p * 3 + c] / 255);
  return out;
}
