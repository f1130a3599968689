/** @tessera/protocol: the wire contract of the farm (gRPC API, NATS messages and names). */
export * from './gen/tessera/v1/types.js';
export * from './gen/tessera/v1/jobs.js';
export * from './gen/tessera/v1/agents.js';
export * from './gen/tessera/v1/wire.js';
export * from './gen/tessera/v1/models.js';
// The generated files each declare these helpers; name one copy to settle the ambiguity.
export {
  protobufPackage,
  protobufFileName,
  type MessageFns,
  type DeepPartial,
  type Exact,
} from './gen/tessera/v1/types.js';
export * from './subjects.js';
export * from './vram.js';
export * from './stage-seed.js';
