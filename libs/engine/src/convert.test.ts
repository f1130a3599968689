import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { baboon, crop, esrganSlimFiles, maxAbsDiff } from '../test-support/fixtures.js';
import { convertLayersModelToOnnx } from './convert/to-onnx.js';
import { UnsupportedModelError } from './errors.js';
import { Upscaler } from './ort-upscaler.js';
import { toRgb8, type RgbImage } from './rgb-image.js';
import { upscalerSpec } from './zoo.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'tessera-convert-'));

/** The original model, run by TF.js on its CPU backend. */
async function runTfjs(scale: 2 | 4, img: RgbImage): Promise<Float32Array> {
  const { modelJson, weights } = esrganSlimFiles(scale);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0].weights as tf.io.WeightsManifestEntry[],
      weightData: weights.slice().buffer,
    }),
  );
  const x = tf.tensor4d(Float32Array.from(img.data), [1, img.height, img.width, 3]);
  const y = model.predict(x) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  model.dispose();
  return out;
}

describe('convertLayersModelToOnnx on the shipped esrgan-slim models', () => {
  let photo: RgbImage;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    photo = crop(await baboon(), 37, 29, 48, 40); // non-square, off-centre: eyes and fur
  });

  for (const scale of [2, 4] as const) {
    it(`x${scale} matches the TF.js original on a real photo`, async () => {
      const reference = await runTfjs(scale, photo);
      const upscaler = await Upscaler.load(`esrgan-slim-x${scale}`, { cacheDir });
      try {
        const ours = await upscaler.runFloat(photo);
        expect([ours.width, ours.height]).toEqual([48 * scale, 40 * scale]);
        const floatDiff = maxAbsDiff(ours.data, reference);
        const rgb8Diff = maxAbsDiff(toRgb8(ours.data), toRgb8(reference));
        console.log(
          `esrgan-slim-x${scale} vs TF.js, 48x40 baboon crop: max |diff| ${floatDiff.toExponential(2)} (float, 0-255 units), ${rgb8Diff} after toRgb8`,
        );
        // Measured 1.8e-4 (x2) and 3.1e-4 (x4): float32 summation order only. 0.01 leaves 30x margin yet
        // catches any real mis-conversion (a wrong transpose or padding is off by tens of units).
        expect(floatDiff).toBeLessThan(0.01);
        expect(rgb8Diff).toBeLessThanOrEqual(1);
      } finally {
        await upscaler.close();
      }
    });

    it(`x${scale}: scale and receptive field agree with the zoo table`, () => {
      const { modelJson, weights } = esrganSlimFiles(scale);
      const converted = convertLayersModelToOnnx(modelJson, weights);
      console.log(
        `esrgan-slim-x${scale}: receptive field ${converted.receptiveFieldPx}px, ONNX ${converted.onnx.length} bytes`,
      );
      expect(converted.scale).toBe(scale);
      expect(converted.receptiveFieldPx).toBe(10);
      expect(upscalerSpec(`esrgan-slim-x${scale}`)).toEqual({
        id: `esrgan-slim-x${scale}`,
        scale,
        receptiveFieldPx: 10,
      });
    });
  }
});

describe('convertLayersModelToOnnx refuses what it does not translate', () => {
  type Layer = { class_name: string; name: string; config: Record<string, unknown> };
  function mutated(edit: (layers: Layer[]) => void) {
    const { modelJson, weights } = esrganSlimFiles(4);
    const copy = structuredClone(modelJson) as { modelTopology: { model_config: { config: { layers: Layer[] } } } };
    edit(copy.modelTopology.model_config.config.layers);
    return () => convertLayersModelToOnnx(copy, weights);
  }
  const layer = (layers: Layer[], name: string) => layers.find((l) => l.name === name) as Layer;

  it.each([
    ['UPN1', 'activation tanh', (ls: Layer[]) => (layer(ls, 'UPN1').config.activation = 'tanh')],
    ['GFF_2', 'strides 2,2', (ls: Layer[]) => (layer(ls, 'GFF_2').config.strides = [2, 2])],
    ['GFF_2', 'padding valid with kernel 3,3', (ls: Layer[]) => (layer(ls, 'GFF_2').config.padding = 'valid')],
    ['UPsample', 'interpolation bilinear', (ls: Layer[]) => (layer(ls, 'UPsample').config.interpolation = 'bilinear')],
    ['RDB_Concat_1_1', 'axis 1', (ls: Layer[]) => (layer(ls, 'RDB_Concat_1_1').config.axis = 1)],
    ['F_1_1_Relu', 'layer class not supported', (ls: Layer[]) => (layer(ls, 'F_1_1_Relu').class_name = 'LeakyReLU')],
    ['F_0', 'data_format channels_first', (ls: Layer[]) => (layer(ls, 'F_0').config.data_format = 'channels_first')],
  ])('%s with %s', (name, text, edit) => {
    const convert = mutated(edit);
    expect(convert).toThrow(UnsupportedModelError);
    expect(convert).toThrow(new RegExp(`layer '${name}'.*${text}`));
  });

  it('a wrong kernel shape (weights of another model)', () => {
    const convert = mutated((ls) => (layer(ls, 'UPN3').config.filters = 12));
    expect(convert).toThrow(/layer 'UPN3'.*kernel shape 3,3,32,48 where HWIO 3,3,32,12/);
  });

  it('truncated weight bytes', () => {
    const { modelJson, weights } = esrganSlimFiles(2);
    expect(() => convertLayersModelToOnnx(modelJson, weights.subarray(0, weights.length - 4))).toThrow(
      UnsupportedModelError,
    );
  });
});
