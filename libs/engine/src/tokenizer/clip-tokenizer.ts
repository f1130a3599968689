import { bytesToUnicode } from './byte-encoder.js';
import { ClipBpe } from './clip-bpe.js';
import { cleanClipText } from './clip-text.js';

/** CLIP's special tokens (the last two entries of every CLIP vocabulary). */
export const CLIP_BOS_TOKEN = '<|startoftext|>';
export const CLIP_EOS_TOKEN = '<|endoftext|>';

/**
 * CLIP's pre-tokenizer (OpenAI CLIP / Hugging Face CLIPTokenizer), case-insensitive: the special tokens,
 * English contractions, runs of letters, single digits, runs of anything else that is not whitespace.
 */
const CLIP_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** What a ClipTokenizer is built from: the contents of a Hugging Face `tokenizer/` folder, parsed. */
export interface ClipTokenizerSpec {
  /** vocab.json: token → id. */
  vocab: Readonly<Record<string, number>>;
  /** merges.txt lines in rank order, without the `#version` header. */
  merges: readonly string[];
  /** Padding token (SD 1.x: `<|endoftext|>`; SD 2.x and SDXL's second tokenizer: `!`). Default `<|endoftext|>`. */
  padToken?: string;
  /** Sequence length of the text encoder (`model_max_length`). Default 77. */
  maxLength?: number;
}

/** A prompt encoded for a CLIP text encoder. */
export interface ClipEncoding {
  /** [bos, …tokens, eos, pad…], exactly `maxLength` ids. */
  inputIds: Int32Array;
  /** 1 for bos, tokens and eos; 0 for padding. */
  attentionMask: Int32Array;
  /** Content tokens before truncation (without bos/eos). */
  tokenCount: number;
  /** Whether content tokens were dropped to fit `maxLength − 2`. */
  truncated: boolean;
}

/**
 * CLIP's BPE tokenizer with Hugging Face CLIPTokenizer semantics (as diffusers uses it):
 * text cleanup (see `cleanClipText`), CLIP's regex pre-tokenizer, UTF-8 bytes through the byte ↔ unicode
 * table, BPE with `</w>` end-of-word markers, ids from the vocabulary (unknown → `<|endoftext|>`).
 * Literal `<|startoftext|>` / `<|endoftext|>` in a prompt become their special ids, as HF's added-token split does.
 *
 * Invariants of `encodeForModel`: always `maxLength` ids; ids[0] = bos (49406 in CLIP's vocab); the eos
 * (49407) follows the last kept token, at index ≤ maxLength − 1 (index maxLength − 1 when truncated);
 * every position after it holds the pad id; the encoding depends only on the text and the spec.
 */
export class ClipTokenizer {
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  readonly maxLength: number;
  private readonly vocab: ReadonlyMap<string, number>;
  private readonly bpe: ClipBpe;
  private readonly byteEncoder = bytesToUnicode();
  private readonly utf8 = new TextEncoder();

  constructor(spec: ClipTokenizerSpec) {
    this.vocab = new Map(Object.entries(spec.vocab));
    this.bpe = new ClipBpe(spec.merges);
    this.bosTokenId = this.requireId(CLIP_BOS_TOKEN);
    this.eosTokenId = this.requireId(CLIP_EOS_TOKEN);
    this.padTokenId = this.requireId(spec.padToken ?? CLIP_EOS_TOKEN);
    this.maxLength = spec.maxLength ?? 77;
    if (!Number.isInteger(this.maxLength) || this.maxLength < 2) {
      throw new RangeError(`maxLength must be an integer ≥ 2, got ${spec.maxLength}`);
    }
  }

  /** The BPE symbols of `text` (no bos/eos), e.g. "a photo" → ["a</w>", "photo</w>"]. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const piece of splitSpecialTokens(text)) {
      if (piece === CLIP_BOS_TOKEN || piece === CLIP_EOS_TOKEN) {
        out.push(piece);
        continue;
      }
      for (const match of cleanClipText(piece).matchAll(CLIP_PATTERN)) {
        const token = match[0];
        if (token === CLIP_BOS_TOKEN || token === CLIP_EOS_TOKEN) {
          out.push(token);
          continue;
        }
        let mapped = '';
        for (const byte of this.utf8.encode(token)) mapped += this.byteEncoder.get(byte)!;
        out.push(...this.bpe.encode(mapped));
      }
    }
    return out;
  }

  /** The token ids of `text`, without bos/eos, untruncated. */
  encode(text: string): number[] {
    return this.tokenize(text).map((t) => this.vocab.get(t) ?? this.eosTokenId);
  }

  /**
   * `tokenizer(text, padding="max_length", max_length=maxLength, truncation=True)`: bos, the first
   * maxLength − 2 token ids, eos, then pad ids up to maxLength.
   */
  encodeForModel(text: string): ClipEncoding {
    const ids = this.encode(text);
    const keep = Math.min(ids.length, this.maxLength - 2);
    const inputIds = new Int32Array(this.maxLength).fill(this.padTokenId);
    const attentionMask = new Int32Array(this.maxLength);
    inputIds[0] = this.bosTokenId;
    for (let i = 0; i < keep; i++) inputIds[i + 1] = ids[i];
    inputIds[keep + 1] = this.eosTokenId;
    attentionMask.fill(1, 0, keep + 2);
    return { inputIds, attentionMask, tokenCount: ids.length, truncated: keep < ids.length };
  }

  /** Ids back to text: byte-decoded, `</w>` → space, special tokens kept verbatim. Lossy only in whitespace/case. */
  decode(ids: ArrayLike<number>): string {
    const byId = this.reverseVocab();
    const byteDecoder = new Map<string, number>();
    for (const [byte, ch] of this.byteEncoder) byteDecoder.set(ch, byte);
    let text = '';
    const bytes: number[] = [];
    const flush = () => {
      text += new TextDecoder().decode(Uint8Array.from(bytes));
      bytes.length = 0;
    };
    for (const id of Array.from(ids)) {
      const token = byId.get(id);
      if (token === undefined) continue;
      if (token === CLIP_BOS_TOKEN || token === CLIP_EOS_TOKEN) {
        flush();
        text += token;
        continue;
      }
      const endOfWord = token.endsWith('</w>');
      for (const ch of endOfWord ? token.slice(0, -4) : token) {
        const b = byteDecoder.get(ch);
        if (b !== undefined) bytes.push(b);
      }
      if (endOfWord) bytes.push(0x20);
    }
    flush();
    return text;
  }

  private reverseVocabCache: Map<number, string> | null = null;
  private reverseVocab(): Map<number, string> {
    if (!this.reverseVocabCache) {
      this.reverseVocabCache = new Map();
      for (const [token, id] of this.vocab) this.reverseVocabCache.set(id, token);
    }
    return this.reverseVocabCache;
  }

  private requireId(token: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new RangeError(`token ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }
}

/** Splits out literal special tokens (case-sensitive, as HF's added-token trie does); other text stays whole. */
function splitSpecialTokens(text: string): string[] {
  return text.split(/(<\|startoftext\|>|<\|endoftext\|>)/).filter((p) => p.length > 0);
}
