/** What a model produces; closed set. */
/** image / video / upscaler models; controlnet and vae rows attach to image models (`forModels`). */
export type ModelKind = 'image' | 'video' | 'upscaler' | 'controlnet' | 'vae';

/** Upscaler parameters of a `kind: upscaler` row. */
export interface UpscalerSpec {
  /** Integer output px per input px, ≥ 1. */
  scale: number;
  /** Receptive-field radius in input px (≥ 0): the blend margin; tile overlap must be ≥ it. */
  receptiveFieldPx: number;
  /** Overlap used when a job names none; ≥ receptiveFieldPx. */
  defaultOverlapPx: number;
  /** Extra GB per megapixel of tile input on top of minVramGb; ≥ 0. */
  vramGbPerMegapixel: number;
}

/** One entry of a video row's decode-chunk table. */
export interface DecodeChunk {
  /** Class threshold (GB) from which this chunk applies; one of the table's classes. */
  classGb: number;
  /** VAE frames decoded at once on agents of this class or larger (until the next entry). */
  chunk: number;
}

/** Video parameters of a `kind: video` row (diffusers' names, camelCase). */
export interface VideoSpec {
  /** Most frames per batch, ≥ 1. */
  frames: number;
  steps: number;
  fps: number;
  motionBucketId: number;
  noiseAugStrength: number;
  /** Ascending by classGb, chunks non-decreasing; empty when the row does not specify one. */
  decodeChunkByClass: DecodeChunk[];
}

/** A pipeline stage of a multi-stage model, in run order. */
export interface StageSpec {
  id: string;
  /** Own VRAM need; undefined → the row's minVramGb. */
  minVramGb?: number;
  notes?: string;
}

/** One validated model row. Invariants: kind 'upscaler' ⇔ upscaler set; kind 'video' ⇔ video set. */
export interface ModelRow {
  id: string;
  family: string;
  kind: ModelKind;
  /** GB needed at native size; 0 = CPU or any GPU. */
  minVramGb: number;
  nativeWidth?: number;
  nativeHeight?: number;
  /** Where minVramGb comes from: "seed", "model card", … */
  source: string;
  notes?: string;
  /**
   * Image rows: the engine pipeline that runs the model (`stable-diffusion`, `stable-diffusion-xl`,
   * `stable-diffusion-3`, `stable-cascade`, …; see ENGINE_IMAGE_PIPELINES). A job for an image row without one the
   * engine has is refused at submit.
   */
  pipeline?: string;
  upscaler?: UpscalerSpec;
  video?: VideoSpec;
  stages?: StageSpec[];
  /** Image models: false when the model's pipeline has no img2img (PixArt); absent = it has one. */
  img2img?: boolean;
  /** controlnet / vae rows: the image model ids they work with (same latent space / UNet). */
  forModels?: string[];
  /**
   * Cost model: reference seconds per work unit at speed 1.0 (a 24 GB-class GPU); > 0. The unit follows
   * the kind ({@link WorkUnit}). Undefined when the row gives none (placement then treats every shard of
   * the model as one unit of 1 s).
   */
  secondsPerUnit?: number;
}

/** What a model's work is counted in: image megapixel-steps, video frame-steps, upscaler input megapixels. */
export type WorkUnit = 'megapixel_step' | 'frame_step' | 'megapixel';

/**
 * The validated hardware table. Invariants: classesGb strictly increasing and > 0; model ids unique
 * (the map keeps file order); every number finite.
 */
export interface HardwareTable {
  version: 1;
  /** Name of the file (or source) it was read from, used in messages. */
  sourceName: string;
  reserveGb: number;
  classTolerance: number;
  classesGb: readonly number[];
  models: ReadonlyMap<string, ModelRow>;
  /**
   * Default speed (work per second relative to the cost table) of an agent by VRAM class (0 = cpu), used
   * until the agent has measured its own; a class without an entry takes the nearest smaller class's
   * (1.0 when none). Empty when the table gives no `speed_by_class`.
   */
  speedByClass: ReadonlyMap<number, number>;
}
