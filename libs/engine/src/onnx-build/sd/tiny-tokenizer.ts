/**
 * A tiny CLIP BPE vocabulary in Hugging Face's file format (`vocab.json`, `merges.txt`, `special_tokens_map.json`,
 * `tokenizer_config.json`) that `loadClipTokenizer` reads like a real `tokenizer/` folder. Layout as CLIP's:
 * the 256 byte symbols, the same with `</w>`, the results of the merges, then `<|startoftext|>`,
 * `<|endoftext|>` last (so the eos is the largest id, which the text encoder's arg-max pooling relies on).
 * A handful of words merge to single tokens; any other text still tokenizes (into byte symbols). Pure.
 */
import { bytesToUnicode } from '../../tokenizer/byte-encoder.js';

/** Words that become single tokens. */
const WORDS = ['a', 'photo', 'of', 'cat', 'dog', 'red', 'blue', 'astronaut', 'riding', 'horse', 'painting', 'blurry'];

/** The files of a tiny tokenizer folder, name → contents. */
export function tinyTokenizerFiles(opts: {
  padToken: '<|endoftext|>' | '!';
  maxLength?: number;
}): Record<string, string> {
  const symbols = [...bytesToUnicode().values()];
  const vocab: Record<string, number> = {};
  const add = (token: string) => {
    if (!(token in vocab)) vocab[token] = Object.keys(vocab).length;
  };
  symbols.forEach(add);
  symbols.forEach((s) => add(`${s}</w>`));
  const merges: string[] = [];
  const seen = new Set<string>();
  for (const word of WORDS) {
    const chars = Array.from(word);
    let left = chars[0];
    for (let i = 1; i < chars.length; i++) {
      const right = i === chars.length - 1 ? `${chars[i]}</w>` : chars[i];
      const line = `${left} ${right}`;
      if (!seen.has(line)) {
        seen.add(line);
        merges.push(line);
      }
      left += right;
      add(left);
    }
  }
  add('<|startoftext|>');
  add('<|endoftext|>');
  const special = {
    bos_token: '<|startoftext|>',
    eos_token: '<|endoftext|>',
    unk_token: '<|endoftext|>',
    pad_token: opts.padToken,
  };
  return {
    'vocab.json': JSON.stringify(vocab),
    'merges.txt': ['#version: 0.2', ...merges, ''].join('\n'),
    'special_tokens_map.json': JSON.stringify(special, null, 2),
    'tokenizer_config.json': JSON.stringify(
      { tokenizer_class: 'CLIPTokenizer', model_max_length: opts.maxLength ?? 77, do_lower_case: true, ...special },
      null,
      2,
    ),
  };
}

/** Vocabulary size of the tiny tokenizer (the text encoders' embedding table must cover it). */
export function tinyVocabSize(): number {
  return Object.keys(JSON.parse(tinyTokenizerFiles({ padToken: '!' })['vocab.json']) as object).length;
}

/**
 * A tiny T5 Unigram `tokenizer.json` (what T5TokenizerFast saves): `<pad>` 0, `</s>` 1, `<unk>` 2, `▁`, the lowercase
 * letters and digits, and a few whole words with higher log-probabilities, so Viterbi prefers them.
 */
export function tinyT5TokenizerJson(): string {
  const vocab: [string, number][] = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
    ['▁', -2],
  ];
  for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789') vocab.push([c, -6 - (c.charCodeAt(0) % 7) / 10]);
  for (const c of 'aeiost') vocab.push([`▁${c}`, -4]);
  for (const w of WORDS) if (w.length > 1) vocab.push([`▁${w}`, -3 - w.length / 10]);
  vocab.push(['at', -4.5], ['og', -4.5]);
  return JSON.stringify({
    version: '1.0',
    added_tokens: [
      { id: 0, content: '<pad>', special: true },
      { id: 1, content: '</s>', special: true },
      { id: 2, content: '<unk>', special: true },
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' }],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    },
    model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
  });
}

/** Vocabulary size of the tiny T5 tokenizer. */
export function tinyT5VocabSize(): number {
  return (JSON.parse(tinyT5TokenizerJson()) as { model: { vocab: unknown[] } }).model.vocab.length;
}
