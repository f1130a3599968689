import { describe, expect, it } from 'vitest';
import { BertWordPieceTokenizer } from './bert-wordpiece.js';

// Expectations from BertTokenizer's documented behaviour (transformers models/bert/tokenization_bert.py):
// CJK ideographs are single tokens, punctuation splits, lower-casing strips accents, greedy longest-match WordPiece.
const VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  'un',
  '##aff',
  '##able',
  'a',
  'cat',
  '宇',
  '航',
  '员',
  ',',
  '!',
  'cafe',
];

describe('BertWordPieceTokenizer', () => {
  const tok = new BertWordPieceTokenizer(VOCAB, 10);
  it('splits CJK per character, punctuation, and words into greedy WordPieces', () => {
    expect(tok.tokenize('unaffable')).toEqual(['un', '##aff', '##able']);
    expect(tok.tokenize('一个宇航员')).toEqual(['[UNK]', '[UNK]', '宇', '航', '员']);
    expect(tok.tokenize('A cat,Café!')).toEqual(['a', 'cat', ',', 'cafe', '!']);
    expect(tok.tokenize('dog')).toEqual(['[UNK]']);
  });
  it('adds [CLS]/[SEP], pads with [PAD], masks the padding, truncates', () => {
    const e = tok.encodeForModel('a cat');
    expect(Array.from(e.inputIds)).toEqual([2, 7, 8, 3, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(e.attentionMask)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    const long = tok.encodeForModel('a '.repeat(20));
    expect(long.inputIds[0]).toBe(2);
    expect(long.inputIds[9]).toBe(3);
    expect(Array.from(long.attentionMask).every((m) => m === 1)).toBe(true);
  });
});
