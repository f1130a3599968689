// Entry point of the `tessera` binary (bin/tessera.js imports this file).
import { runCli } from './run.js';

// grpc-js sets the TLS server name to the host even when it is an IP address (grpc/grpc-node#1919),
// and Node then prints DEP0123 on the first TLS connection to `--server 10.0.0.5:50051`. Nothing for
// the user to act on: that one warning is dropped; every other warning is printed as usual.
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((...args: unknown[]) => {
  const [, type, code] = args;
  const named = typeof type === 'object' && type !== null ? (type as { code?: string }).code : code;
  if (named !== 'DEP0123') emitWarning(...args);
}) as typeof process.emitWarning;

process.exitCode = await runCli(process.argv);
