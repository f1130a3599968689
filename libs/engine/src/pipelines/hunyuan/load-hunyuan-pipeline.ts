/**
 * Tessera's Hunyuan-DiT layout (docs/model-export.md): model_index.json `HunyuanDiTPipeline`, `text_encoder/` (BERT)
 * + `tokenizer/vocab.txt`, `text_encoder_2/` (mT5 encoder) + `tokenizer_2/tokenizer.json`, `transformer/`,
 * `vae_decoder/`, `scheduler/scheduler_config.json`. `readHunyuanLayout` returns null for any other directory.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DDPMScheduler } from '../../schedulers/ddpm.js';
import { loadBertTokenizer } from '../../tokenizer/bert-wordpiece.js';
import { SdModelLayoutError } from '../sd/errors.js';
import { parseVaeConfig } from '../sd/optimum-layout.js';
import type { SdModel } from '../sd/sd-model.js';
import { loadT5Tokenizer } from '../sd/t5-tokenizer.js';
import { HunyuanDiTPipeline } from './hunyuan-dit-pipeline.js';

/** Sub-model paths and configs of a Hunyuan-DiT directory. */
export interface HunyuanLayout {
  dir: string;
  models: { textEncoder: string; textEncoder2: string; transformer: string; vaeDecoder: string };
  schedulerConfig: Record<string, unknown>;
  transformerConfig: Record<string, unknown>;
  vaeConfig: Record<string, unknown>;
}

/** Whether a model_index.json names Hunyuan-DiT (prefixes `ORT` / `Onnx` ignored). Pure. */
export function isHunyuanIndex(modelIndex: Readonly<Record<string, unknown>>): boolean {
  return /^(ORT|Onnx)?HunyuanDiTPipeline$/.test(String(modelIndex._class_name ?? ''));
}

/** Reads `dir` when it is a Hunyuan-DiT directory; null otherwise. */
export async function readHunyuanLayout(dir: string): Promise<HunyuanLayout | null> {
  const index = await readJson(join(dir, 'model_index.json'), true);
  if (!index || !isHunyuanIndex(index)) return null;
  const model = (folder: string) => {
    const p = join(dir, folder, 'model.onnx');
    if (!existsSync(p)) throw new SdModelLayoutError(join(dir, folder), `Hunyuan-DiT needs ${folder}/model.onnx`);
    return p;
  };
  for (const [folder, file] of [
    ['tokenizer', 'vocab.txt'],
    ['tokenizer_2', 'tokenizer.json'],
  ]) {
    if (!existsSync(join(dir, folder, file)))
      throw new SdModelLayoutError(join(dir, folder), `Hunyuan-DiT needs ${folder}/${file}`);
  }
  return {
    dir,
    models: {
      textEncoder: model('text_encoder'),
      textEncoder2: model('text_encoder_2'),
      transformer: model('transformer'),
      vaeDecoder: model('vae_decoder'),
    },
    schedulerConfig: (await readJson(join(dir, 'scheduler', 'scheduler_config.json'), false))!,
    transformerConfig: (await readJson(join(dir, 'transformer', 'config.json'), true)) ?? {},
    vaeConfig: (await readJson(join(dir, 'vae_decoder', 'config.json'), true)) ?? {},
  };
}

/** Opens the sub-models through `open` and builds the pipeline. */
export async function buildHunyuanPipeline(
  layout: HunyuanLayout,
  open: (path: string | undefined) => Promise<SdModel | undefined>,
): Promise<HunyuanDiTPipeline> {
  const sc = layout.schedulerConfig;
  if (sc._class_name !== undefined && sc._class_name !== 'DDPMScheduler') {
    throw new SdModelLayoutError(
      join(layout.dir, 'scheduler'),
      `names ${String(sc._class_name)}; the Hunyuan-DiT pipeline runs DDPMScheduler`,
    );
  }
  const t5 = await loadT5Tokenizer(join(layout.dir, 'tokenizer_2'), 256);
  return new HunyuanDiTPipeline({
    textEncoder: (await open(layout.models.textEncoder))!,
    tokenizer: await loadBertTokenizer(join(layout.dir, 'tokenizer'), 77),
    textEncoder2: (await open(layout.models.textEncoder2))!,
    tokenizer2: {
      encodeForModel: (text) => {
        const ids = t5.encodeForModel(text);
        return { inputIds: ids, attentionMask: ids.map((id) => (id === t5.padId ? 0 : 1)) };
      },
    },
    transformer: (await open(layout.models.transformer))!,
    vaeDecoder: (await open(layout.models.vaeDecoder))!,
    scheduler: () => DDPMScheduler.fromDiffusersConfig(sc),
    schedulerName: { name: 'ddpm', className: 'DDPMScheduler' },
    vae: parseVaeConfig(layout.vaeConfig, 'sdxl'),
    transformerConfig: layout.transformerConfig,
  });
}

async function readJson(path: string, optional: boolean): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && optional) return null;
    throw new SdModelLayoutError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new SdModelLayoutError(path, `invalid JSON: ${(err as Error).message}`, { cause: err });
  }
}
