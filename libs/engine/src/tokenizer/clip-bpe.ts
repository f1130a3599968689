/**
 * CLIP's byte-pair encoding of one pre-token (a regex match, already mapped byte → character): the last
 * character carries the `</w>` end-of-word marker, then the adjacent pair with the lowest merge rank is
 * merged everywhere (left to right, non-overlapping) until no ranked pair is left. Results are cached per
 * pre-token. Merges are "a b" lines in priority order (merges.txt without its `#version` header).
 */
export class ClipBpe {
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();

  constructor(merges: readonly string[]) {
    merges.forEach((line, rank) => {
      const parts = line.split(' ');
      if (parts.length !== 2) throw new RangeError(`merges.txt line ${rank + 2} is not "a b": ${JSON.stringify(line)}`);
      const key = `${parts[0]} ${parts[1]}`;
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
    });
  }

  /** The BPE symbols of `token` (non-empty), the last one ending in `</w>`. */
  encode(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), chars[chars.length - 1] + '</w>'];
    while (word.length > 1) {
      let best: [string, string] | null = null;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = [word[i], word[i + 1]];
        }
      }
      if (!best) break;
      const [first, second] = best;
      const merged: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]);
          i += 1;
        }
      }
      word = merged;
    }
    this.cache.set(token, word);
    return word;
  }
}
