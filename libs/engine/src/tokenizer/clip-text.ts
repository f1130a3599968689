/**
 * Text cleanup before CLIP's BPE, as Hugging Face's `CLIPTokenizer` does it when `ftfy` is not installed
 * (the usual diffusers setup): its BasicTokenizer with `strip_accents=False`, `do_split_on_punc=False`.
 *
 * 1. drop NUL, U+FFFD and control/format characters (Unicode Cc, Cf) except tab, LF, CR;
 * 2. turn every whitespace character (space, tab, LF, CR, Unicode Zs) into a space;
 * 3. put spaces around CJK ideographs (so each becomes its own word);
 * 4. Unicode NFC (so "é" typed as e + combining acute equals the precomposed "é");
 * 5. split on whitespace (Python's `str.split()`, which also splits on U+2028/U+2029), lowercase each word
 *    (accents kept), join with single spaces.
 *
 * ftfy's mojibake repair, HTML-entity unescaping and quote uncurling (what OpenAI's own CLIP code applies)
 * are not reproduced; neither is diffusers without ftfy.
 */
export function cleanClipText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    if (isWhitespace(ch)) out += ' ';
    else if (isCjkIdeograph(cp)) out += ` ${ch} `;
    else out += ch;
  }
  return out
    .normalize('NFC')
    .split(/\s+/u)
    .filter((w) => w.length > 0)
    .map((w) => w.toLowerCase())
    .join(' ');
}

function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch);
}

function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return /[\p{Cc}\p{Cf}]/u.test(ch);
}

/** The CJK Unified Ideograph blocks BERT's BasicTokenizer treats as single-character words. */
function isCjkIdeograph(cp: number): boolean {
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
