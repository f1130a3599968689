import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClipTokenizer, type ClipTokenizerSpec } from './clip-tokenizer.js';

/** Options of `loadClipTokenizer`; the folder's own files take precedence over them. */
export interface LoadClipTokenizerOptions {
  /** Pad token when neither special_tokens_map.json nor tokenizer_config.json names one. Default `<|endoftext|>`. */
  padToken?: string;
  /** Sequence length when tokenizer_config.json has no `model_max_length`. Default 77. */
  maxLength?: number;
}

/**
 * Reads a Hugging Face CLIPTokenizer folder (a model's `tokenizer/` or `tokenizer_2/`): `vocab.json` and
 * `merges.txt` (required), and the pad token and `model_max_length` from `special_tokens_map.json` /
 * `tokenizer_config.json` when present (a token may be a string or an AddedToken object with `content`).
 * SD 1.x folders pad with `<|endoftext|>`, SD 2.x and SDXL's `tokenizer_2/` with `!` — the files say which.
 */
export async function loadClipTokenizer(dir: string, options: LoadClipTokenizerOptions = {}): Promise<ClipTokenizer> {
  const [vocabText, mergesText, specialMap, config] = await Promise.all([
    readFile(join(dir, 'vocab.json'), 'utf8'),
    readFile(join(dir, 'merges.txt'), 'utf8'),
    readJsonIfPresent(join(dir, 'special_tokens_map.json')),
    readJsonIfPresent(join(dir, 'tokenizer_config.json')),
  ]);
  const spec: ClipTokenizerSpec = {
    vocab: JSON.parse(vocabText) as Record<string, number>,
    merges: parseMerges(mergesText),
    padToken: tokenContent(specialMap?.pad_token) ?? tokenContent(config?.pad_token) ?? options.padToken,
    maxLength: validMaxLength(config?.model_max_length) ?? options.maxLength,
  };
  return new ClipTokenizer(spec);
}

/** merges.txt → merge lines: drops a leading `#version` line and blank lines (HF writes exactly that format). */
export function parseMerges(text: string): string[] {
  return text.split(/\r?\n/).filter((line, i) => line.length > 0 && !(i === 0 && line.startsWith('#version')));
}

async function readJsonIfPresent(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** HF writes a huge sentinel (1e30) when a tokenizer has no limit; treat only sane values as a length. */
function validMaxLength(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 2 && value <= 1_000_000 ? value : undefined;
}
