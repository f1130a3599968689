/**
 * BERT's WordPiece tokenizer as Hugging Face's BertTokenizer runs it from a `vocab.txt` (Hunyuan-DiT's bilingual CLIP
 * text encoder is a Chinese RoBERTa-wwm BERT): clean the text (drop control characters, whitespace to spaces), put
 * spaces around every CJK ideograph, lower-case and strip accents (do_lower_case), split on whitespace and
 * punctuation, then greedy longest-match WordPiece with `##` continuations (a word with no segmentation, or longer
 * than 100 characters, is `[UNK]`). `encodeForModel` adds `[CLS] … [SEP]`, truncates and pads with `[PAD]` to
 * `maxLength` and returns the attention mask, as `tokenizer(text, padding="max_length", truncation=True)`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const MAX_CHARS_PER_WORD = 100;

/** Ids and mask of one prompt, padded to maxLength. */
export interface BertEncoding {
  inputIds: Int32Array;
  attentionMask: Int32Array;
}

/** A WordPiece tokenizer over a vocab.txt (one token a line, id = line number). */
export class BertWordPieceTokenizer {
  private readonly vocab = new Map<string, number>();
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly unkId: number;

  constructor(
    tokens: readonly string[],
    readonly maxLength = 77,
    readonly lowerCase = true,
  ) {
    tokens.forEach((t, i) => {
      if (!this.vocab.has(t)) this.vocab.set(t, i);
    });
    const need = (t: string) => {
      const id = this.vocab.get(t);
      if (id === undefined) throw new RangeError(`vocab.txt has no ${t}`);
      return id;
    };
    this.clsId = need('[CLS]');
    this.sepId = need('[SEP]');
    this.padId = need('[PAD]');
    this.unkId = need('[UNK]');
  }

  /** The WordPiece tokens of `text` (no special tokens). */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const word of this.basicTokenize(text)) {
      if (word.length > MAX_CHARS_PER_WORD) {
        out.push('[UNK]');
        continue;
      }
      const chars = Array.from(word);
      const pieces: string[] = [];
      let start = 0;
      let bad = false;
      while (start < chars.length) {
        let end = chars.length;
        let found: string | undefined;
        while (start < end) {
          const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
          if (this.vocab.has(sub)) {
            found = sub;
            break;
          }
          end--;
        }
        if (!found) {
          bad = true;
          break;
        }
        pieces.push(found);
        start = end;
      }
      out.push(...(bad ? ['[UNK]'] : pieces));
    }
    return out;
  }

  /** `[CLS] tokens [SEP]`, truncated to maxLength, padded with [PAD]; mask 1 on real tokens. */
  encodeForModel(text: string): BertEncoding {
    const ids = this.tokenize(text)
      .slice(0, this.maxLength - 2)
      .map((t) => this.vocab.get(t) ?? this.unkId);
    const all = [this.clsId, ...ids, this.sepId];
    const inputIds = new Int32Array(this.maxLength).fill(this.padId);
    const attentionMask = new Int32Array(this.maxLength);
    inputIds.set(all);
    attentionMask.fill(1, 0, all.length);
    return { inputIds, attentionMask };
  }

  private basicTokenize(text: string): string[] {
    let clean = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd || (isControl(ch) && !/[\t\n\r]/.test(ch))) continue;
      clean += /\s/.test(ch) ? ' ' : isCjk(cp) ? ` ${ch} ` : ch;
    }
    const words: string[] = [];
    for (let w of clean.split(' ').filter(Boolean)) {
      if (this.lowerCase)
        w = w
          .toLowerCase()
          .normalize('NFD')
          .replace(/\p{Mn}/gu, '');
      let cur = '';
      for (const ch of w) {
        if (isPunctuation(ch)) {
          if (cur) words.push(cur);
          words.push(ch);
          cur = '';
        } else cur += ch;
      }
      if (cur) words.push(cur);
    }
    return words;
  }
}

function isControl(ch: string): boolean {
  return /[\p{Cc}\p{Cf}]/u.test(ch);
}

/** BERT's _is_chinese_char: the CJK Unified Ideographs blocks (not Japanese kana or Hangul). */
function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** BERT's _is_punctuation: ASCII non-alphanumeric symbols plus Unicode P*. */
function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return /\p{P}/u.test(ch);
}

/** Reads `<dir>/vocab.txt` (and `tokenizer_config.json`'s do_lower_case / model_max_length when present). */
export async function loadBertTokenizer(dir: string, maxLength = 77): Promise<BertWordPieceTokenizer> {
  const tokens = (await readFile(join(dir, 'vocab.txt'), 'utf8')).split(/\r?\n/);
  if (tokens.length && tokens[tokens.length - 1] === '') tokens.pop();
  let lower = true;
  try {
    const cfg = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as { do_lower_case?: boolean };
    if (cfg.do_lower_case === false) lower = false;
  } catch {
    // no tokenizer_config.json: BertTokenizer's default (lower case)
  }
  return new BertWordPieceTokenizer(tokens, maxLength, lower);
}
