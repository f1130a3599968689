import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesToUnicode } from './byte-encoder.js';
import { ClipBpe } from './clip-bpe.js';
import { cleanClipText } from './clip-text.js';
import { ClipTokenizer } from './clip-tokenizer.js';
import { loadClipTokenizer, parseMerges } from './load-clip-tokenizer.js';

// A hand-made vocabulary that exercises each rule in isolation (the real vocabulary is tested in
// clip-tokenizer.test.ts).
describe('ClipBpe merge rules', () => {
  it('merges the lowest-ranked adjacent pair first, everywhere, until none applies', () => {
    const bpe = new ClipBpe(['l o', 'lo w</w>', 'e r</w>', 'n e', 'ne w', 'new er</w>']);
    expect(bpe.encode('low')).toEqual(['low</w>']);
    expect(bpe.encode('newer')).toEqual(['newer</w>']);
    expect(bpe.encode('lower')).toEqual(['lo', 'w', 'er</w>']);
    expect(bpe.encode('x')).toEqual(['x</w>']);
    expect(bpe.encode('lolo')).toEqual(['lo', 'l', 'o</w>']); // "o</w>" differs from "o": end-of-word matters
  });

  it('respects rank order over position', () => {
    const bpe = new ClipBpe(['b c', 'a b']); // "b c" does not apply to "b" + "c</w>"
    expect(bpe.encode('abc')).toEqual(['ab', 'c</w>']);
    const bpe2 = new ClipBpe(['b c</w>', 'a b']);
    expect(bpe2.encode('abc')).toEqual(['a', 'bc</w>']);
    const bpe3 = new ClipBpe(['a b', 'b c</w>']);
    expect(bpe3.encode('abc')).toEqual(['ab', 'c</w>']);
  });

  it('rejects malformed merge lines', () => {
    expect(() => new ClipBpe(['a b c'])).toThrow(RangeError);
  });
});

describe('cleanClipText', () => {
  it('collapses whitespace, drops controls, spaces CJK ideographs, NFC, lowercases', () => {
    expect(cleanClipText('  Hello\t\tWORLD\r\n ')).toBe('hello world');
    expect(cleanClipText('a\u0000b\ufffdc\u200bd')).toBe('abcd');
    expect(cleanClipText('x猫y')).toBe('x 猫 y');
    expect(cleanClipText('E\u0301')).toBe('é');
    expect(cleanClipText('line\u2028break\u3000wide')).toBe('line break wide');
  });
});

describe('ClipTokenizer with a toy vocabulary', () => {
  const byteChars = [...bytesToUnicode().values()];
  const merges = ['c a', 'ca t</w>', 'Ã ©</w>'];
  const list = [
    ...byteChars,
    ...byteChars.map((c) => `${c}</w>`),
    'ca',
    'cat</w>',
    'Ã©</w>',
    '<|startoftext|>',
    '<|endoftext|>',
  ];
  const vocab = Object.fromEntries(list.map((t, i) => [t, i]));
  const tok = new ClipTokenizer({ vocab, merges, maxLength: 6, padToken: '!' });

  it('maps bytes, applies merges, adds bos/eos, pads with the pad id, truncates keeping eos last', () => {
    expect(tok.tokenize('Cat é')).toEqual(['cat</w>', 'Ã©</w>']);
    expect(Array.from(tok.encodeForModel('cat').inputIds)).toEqual([
      vocab['<|startoftext|>'],
      vocab['cat</w>'],
      vocab['<|endoftext|>'],
      0,
      0,
      0,
    ]);
    const long = tok.encodeForModel('cat cat cat cat cat');
    expect(Array.from(long.inputIds)).toEqual([
      vocab['<|startoftext|>'],
      ...Array(4).fill(vocab['cat</w>']),
      vocab['<|endoftext|>'],
    ]);
    expect(long.truncated).toBe(true);
  });

  it('rejects a pad token or special token missing from the vocabulary', () => {
    expect(() => new ClipTokenizer({ vocab, merges, padToken: '<pad>' })).toThrow(RangeError);
    expect(() => new ClipTokenizer({ vocab: { a: 0 }, merges: [] })).toThrow(RangeError);
  });

  it('loads a folder: files decide the pad token and length; the option is the fallback', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-tok-'));
    try {
      await writeFile(join(dir, 'vocab.json'), JSON.stringify(vocab));
      await writeFile(join(dir, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
      expect((await loadClipTokenizer(dir)).padTokenId).toBe(vocab['<|endoftext|>']);
      expect((await loadClipTokenizer(dir, { padToken: '!' })).padTokenId).toBe(0);
      await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '!', model_max_length: 8 }));
      const fromConfig = await loadClipTokenizer(dir, { padToken: '<|endoftext|>' });
      expect([fromConfig.padTokenId, fromConfig.maxLength]).toEqual([0, 8]);
      await writeFile(
        join(dir, 'special_tokens_map.json'),
        JSON.stringify({ pad_token: { content: '<|endoftext|>' } }),
      );
      expect((await loadClipTokenizer(dir)).padTokenId).toBe(vocab['<|endoftext|>']);
      await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 1e30 }));
      expect((await loadClipTokenizer(dir)).maxLength).toBe(77);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('parseMerges drops the #version header and blank lines', () => {
    expect(parseMerges('#version: 0.2\na b\r\nc d\n\n')).toEqual(['a b', 'c d']);
  });
});
