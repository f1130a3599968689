/**
 * T5's SentencePiece-Unigram tokenizer as Hugging Face's T5TokenizerFast runs it from `tokenizer_3/tokenizer.json`
 * (SD3's third tokenizer): normalize, split on whitespace, prefix each word with `▁` (Metaspace), segment each word
 * by Viterbi over the vocabulary's log-probabilities (an unknown character is `<unk>` scored min − 10, consecutive
 * unknowns fused, as tokenizers' Unigram does), then `$A </s>`, truncation and padding to `maxLength`.
 *
 * Where it can differ from HF: the normalizer. tokenizer.json carries SentencePiece's precompiled `nmt_nfkc` char
 * map; this applies Unicode NFKC plus the same collapse of repeated spaces, which agrees on ordinary text (letters,
 * digits, punctuation, CJK) and may differ on rare control / compatibility characters.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SdModelLayoutError } from './errors.js';

const UNK_PENALTY = 10;
const SPACE = '▁';

/** A parsed Unigram tokenizer.json. */
export interface T5TokenizerSpec {
  /** [piece, log-probability] in id order. */
  vocab: readonly (readonly [string, number])[];
  unkId: number;
  /** Sequence length after padding (SD3: max_sequence_length = 256). */
  maxLength: number;
}

/** The tokenizer of SD3's `text_encoder_3`. */
export class T5Tokenizer {
  readonly eosId: number;
  readonly padId: number;
  readonly maxLength: number;
  private readonly pieces = new Map<string, { id: number; score: number }>();
  private readonly maxPieceChars: number;
  private readonly unkScore: number;
  private readonly unkId: number;

  constructor(spec: T5TokenizerSpec) {
    let min = Infinity;
    let longest = 1;
    spec.vocab.forEach(([piece, score], id) => {
      if (!this.pieces.has(piece)) this.pieces.set(piece, { id, score });
      min = Math.min(min, score);
      longest = Math.max(longest, Array.from(piece).length);
    });
    this.maxPieceChars = longest;
    this.unkScore = min - UNK_PENALTY;
    this.unkId = spec.unkId;
    this.eosId = this.require('</s>');
    this.padId = this.require('<pad>');
    this.maxLength = spec.maxLength;
  }

  /** Token ids of `text` without `</s>` or padding. */
  encode(text: string): number[] {
    const normalized = text.normalize('NFKC').replace(/ {2,}/g, ' ');
    const ids: number[] = [];
    for (const word of normalized.split(/\s+/).filter((w) => w.length > 0)) ids.push(...this.viterbi(SPACE + word));
    return ids;
  }

  /** `tokenizer_3(text, padding="max_length", max_length, truncation=True, add_special_tokens=True)`. */
  encodeForModel(text: string): Int32Array {
    const ids = this.encode(text).slice(0, this.maxLength - 1);
    const out = new Int32Array(this.maxLength).fill(this.padId);
    out.set(ids);
    out[ids.length] = this.eosId;
    return out;
  }

  private viterbi(word: string): number[] {
    const chars = Array.from(word);
    const n = chars.length;
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    const pieceAt: { id: number; unk: boolean }[] = new Array(n + 1);
    best[0] = 0;
    for (let begin = 0; begin < n; begin++) {
      if (best[begin] === -Infinity) continue;
      let hasSingle = false;
      let piece = '';
      for (let len = 1; len <= Math.min(this.maxPieceChars, n - begin); len++) {
        piece += chars[begin + len - 1];
        const hit = this.pieces.get(piece);
        if (!hit) continue;
        if (len === 1) hasSingle = true;
        relax(begin + len, best[begin] + hit.score, begin, { id: hit.id, unk: false });
      }
      if (!hasSingle) relax(begin + 1, best[begin] + this.unkScore, begin, { id: this.unkId, unk: true });
    }
    function relax(end: number, score: number, begin: number, p: { id: number; unk: boolean }) {
      if (from[end] === -1 || score > best[end]) {
        best[end] = score;
        from[end] = begin;
        pieceAt[end] = p;
      }
    }
    const path: { id: number; unk: boolean }[] = [];
    for (let end = n; end > 0; end = from[end]) path.push(pieceAt[end]);
    path.reverse();
    const ids: number[] = [];
    for (let i = 0; i < path.length; i++) {
      if (path[i].unk && i > 0 && path[i - 1].unk) continue; // fuse_unk
      ids.push(path[i].id);
    }
    return ids;
  }

  private require(piece: string): number {
    const hit = this.pieces.get(piece);
    if (!hit) throw new RangeError(`T5 vocabulary has no ${piece}`);
    return hit.id;
  }
}

/**
 * Reads a `tokenizer_3/` folder's tokenizer.json (Unigram model). Throws SdModelLayoutError when it is missing or
 * not a Unigram tokenizer (a folder with only `spiece.model` is not supported: re-save it with T5TokenizerFast).
 */
export async function loadT5Tokenizer(dir: string, maxLength = 256): Promise<T5Tokenizer> {
  const path = join(dir, 'tokenizer.json');
  let json: { model?: { type?: string; vocab?: [string, number][]; unk_id?: number } };
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as typeof json;
  } catch (err) {
    throw new SdModelLayoutError(
      path,
      `cannot read the T5 tokenizer (${(err as Error).message}); save tokenizer_3 with T5TokenizerFast`,
      {
        cause: err,
      },
    );
  }
  const model = json.model;
  if (model?.type !== 'Unigram' || !Array.isArray(model.vocab)) {
    throw new SdModelLayoutError(path, `model type ${String(model?.type)} is not Unigram`);
  }
  return new T5Tokenizer({ vocab: model.vocab, unkId: model.unk_id ?? 2, maxLength });
}
