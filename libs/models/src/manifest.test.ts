import { describe, expect, it } from 'vitest';
import { InvalidModelError } from './errors.js';
import { assertModelId, assertModelPath, buildManifest, manifestDigest, parseManifest, summarize } from './manifest.js';

const h = (c: string) => c.repeat(64);
const at = new Date('2026-01-01T00:00:00Z');

describe('manifests', () => {
  it('digest depends on the files, not their order or the push time', () => {
    const a = [
      { path: 'unet/model.onnx', sha256: h('a'), size: 10 },
      { path: 'model_index.json', sha256: h('b'), size: 2 },
    ];
    const m1 = buildManifest('sdxl', a, at);
    const m2 = buildManifest('sdxl', [...a].reverse(), new Date());
    expect(m1.digest).toBe(m2.digest);
    expect(m1.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(m1.files.map((f) => f.path)).toEqual(['model_index.json', 'unet/model.onnx']);
    expect(m1.totalBytes).toBe(12);
    expect(manifestDigest([{ ...a[0], size: 11 }, a[1]])).not.toBe(m1.digest);
  });

  it('refuses bad ids, unsafe paths, duplicates and a tampered digest', () => {
    for (const id of ['', 'SDXL', '../x', 'a/b', 'x'.repeat(65), '.hidden'])
      expect(() => assertModelId(id)).toThrow(InvalidModelError);
    expect(assertModelId('sdxl-refiner')).toBe('sdxl-refiner');
    for (const p of ['/etc/passwd', 'a/../b', 'a//b', '.', 'a\\b', ''])
      expect(() => assertModelPath(p)).toThrow(InvalidModelError);
    const f = { path: 'x.onnx', sha256: h('c'), size: 1 };
    expect(() => buildManifest('m', [f, f], at)).toThrow(/listed twice/);
    expect(() => buildManifest('m', [], at)).toThrow(/no files/);
    const json = JSON.stringify({ ...buildManifest('m', [f], at), digest: `sha256:${h('0')}` });
    expect(() => parseManifest(json)).toThrow(/does not match/);
    expect(parseManifest(JSON.stringify(buildManifest('m', [f], at))).digest).toBe(buildManifest('m', [f], at).digest);
  });

  it('summarize counts shared files once and charges unique bytes to their only model', () => {
    const shared = { path: 'text_encoder/model.onnx', sha256: h('1'), size: 100 };
    const base = buildManifest('sdxl', [shared, { path: 'unet/model.onnx', sha256: h('2'), size: 30 }], at);
    const refiner = buildManifest(
      'sdxl-refiner',
      [
        { ...shared, path: 'text_encoder_2/model.onnx' },
        { path: 'unet/model.onnx', sha256: h('3'), size: 7 },
      ],
      at,
    );
    const s = summarize([refiner, base]);
    expect(s.models.map((m) => [m.id, m.totalBytes, m.uniqueBytes])).toEqual([
      ['sdxl', 130, 30],
      ['sdxl-refiner', 107, 7],
    ]);
    expect(s.totalBytes).toBe(237);
    expect(s.storedBytes).toBe(137);
  });
});
