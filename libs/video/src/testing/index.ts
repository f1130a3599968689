/** @tessera/video/testing: fixtures for tests of video jobs (uses sharp). */
export { panZoomClip, type PanZoomClipOptions } from './pan-zoom-clip.js';
