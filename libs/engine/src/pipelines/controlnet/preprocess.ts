/**
 * In-process control-image preprocessors for ControlNet (what the diffusers docs prepare with OpenCV): Canny edges
 * (`cv2.Canny(image, low, high)` then stacked to three channels) and Gaussian blur (for blur / tile ControlNets).
 * Depth and OpenPose maps come from their own models; pass such a map as the control image.
 *
 * Canny follows OpenCV's algorithm: BT.601 grey, 3×3 Sobel with replicated borders, L1 gradient |gx| + |gy|,
 * non-maximum suppression along the gradient direction quantised to 0/45/90/135° (tan 22.5° bounds), and hysteresis
 * (≥ high: edge; ≥ low and 8-connected to an edge: edge). It is not bit-exact with OpenCV's integer kernels on every
 * image. Pure functions over RgbImage.
 */
import type { RgbImage } from '../../rgb-image.js';

/** Named preprocessors a job may ask for. */
export const CONTROL_PREPROCESSORS = ['none', 'canny', 'blur'] as const;
export type ControlPreprocessor = (typeof CONTROL_PREPROCESSORS)[number];

/** Canny edges of `img` as a black/white RGB image; thresholds as cv2.Canny (defaults 100, 200). */
export function cannyEdges(img: RgbImage, low = 100, high = 200): RgbImage {
  const { width: W, height: H } = img;
  const gray = new Float32Array(W * H);
  for (let p = 0; p < W * H; p++) {
    gray[p] = Math.round(0.299 * img.data[p * 3] + 0.587 * img.data[p * 3 + 1] + 0.114 * img.data[p * 3 + 2]);
  }
  const at = (x: number, y: number) => gray[Math.min(H - 1, Math.max(0, y)) * W + Math.min(W - 1, Math.max(0, x))];
  const gx = new Float32Array(W * H);
  const gy = new Float32Array(W * H);
  const mag = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const dx =
        at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const dy =
        at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      gx[y * W + x] = dx;
      gy[y * W + x] = dy;
      mag[y * W + x] = Math.abs(dx) + Math.abs(dy);
    }
  }
  const TAN22 = Math.tan(Math.PI / 8);
  const m = (x: number, y: number) => (x < 0 || y < 0 || x >= W || y >= H ? 0 : mag[y * W + x]);
  // 0 = not an edge candidate, 1 = weak, 2 = strong.
  const state = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const v = mag[i];
      if (v <= low) continue;
      const ax = Math.abs(gx[i]);
      const ay = Math.abs(gy[i]);
      let n1: number;
      let n2: number;
      if (ay <= ax * TAN22) [n1, n2] = [m(x - 1, y), m(x + 1, y)];
      else if (ay >= ax / TAN22) [n1, n2] = [m(x, y - 1), m(x, y + 1)];
      else if (gx[i] * gy[i] > 0) [n1, n2] = [m(x - 1, y - 1), m(x + 1, y + 1)];
      else [n1, n2] = [m(x + 1, y - 1), m(x - 1, y + 1)];
      // OpenCV keeps the maximum strictly above one side and not below the other.
      if (v > n1 && v >= n2) state[i] = v > high ? 2 : 1;
    }
  }
  const stack: number[] = [];
  for (let i = 0; i < W * H; i++) if (state[i] === 2) stack.push(i);
  while (stack.length) {
    const i = stack.pop()!;
    const x = i % W;
    const y = (i - x) / W;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx;
        const ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= W || ny >= H) continue;
        const j = ny * W + nx;
        if (state[j] === 1) {
          state[j] = 2;
          stack.push(j);
        }
      }
    }
  }
  const out = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) if (state[i] === 2) out.fill(255, i * 3, i * 3 + 3);
  return { width: W, height: H, data: out };
}

/** Gaussian blur with standard deviation `sigma` px (kernel radius ⌈3σ⌉, replicated borders), rounded to RGB8. */
export function gaussianBlur(img: RgbImage, sigma = 4): RgbImage {
  if (!(sigma > 0)) return { ...img, data: img.data.slice() };
  const r = Math.ceil(3 * sigma);
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const kernel = k.map((v) => v / sum);
  const { width: W, height: H } = img;
  const tmp = new Float64Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++)
          acc += kernel[i + r] * img.data[(y * W + Math.min(W - 1, Math.max(0, x + i))) * 3 + c];
        tmp[(y * W + x) * 3 + c] = acc;
      }
    }
  }
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) acc += kernel[i + r] * tmp[(Math.min(H - 1, Math.max(0, y + i)) * W + x) * 3 + c];
        out[(y * W + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(acc)));
      }
    }
  }
  return { width: W, height: H, data: out };
}

/** Applies a named preprocessor. */
export function preprocessControlImage(img: RgbImage, kind: ControlPreprocessor): RgbImage {
  if (kind === 'canny') return cannyEdges(img);
  if (kind === 'blur') return gaussianBlur(img);
  return img;
}
