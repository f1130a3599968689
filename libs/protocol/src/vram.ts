/** VRAM class labels on the wire: "cpu" for class 0, otherwise "<gb>gb". */
export function vramClassLabel(gb: number): string {
  return gb <= 0 ? 'cpu' : `${gb}gb`;
}

/** Inverse of {@link vramClassLabel}; throws on anything else. */
export function parseVramClassLabel(label: string): number {
  if (label === 'cpu') return 0;
  const m = /^(\d+)gb$/.exec(label);
  if (!m) throw new Error(`not a VRAM class label: ${JSON.stringify(label)}`);
  return Number(m[1]);
}
