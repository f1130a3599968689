/**
 * @tessera/models: the farm's model store (content-addressed files + manifests on JetStream) and the
 * agent-side cache that fetches, verifies and installs models from it.
 */
export { InvalidModelError, ModelIntegrityError, ModelNotFoundError, ModelTooLargeError, PUSH_HINT } from './errors.js';
export {
  assertModelId,
  assertModelPath,
  buildManifest,
  manifestDigest,
  parseManifest,
  referencedBlobs,
  summarize,
  type ModelFile,
  type ModelManifest,
  type ModelSummary,
  type StoreSummary,
} from './manifest.js';
export { hashFile, scanModel, type LocalFile, type ScanOptions } from './scan.js';
export { blobKey, modelStoreNames, ModelStore, type PushOptions, type PushProgress, type PushResult } from './store.js';
export {
  MODEL_MARKER,
  ModelCache,
  type CachedModel,
  type FetchStats,
  type ModelCacheOptions,
  type ModelLease,
} from './cache.js';
