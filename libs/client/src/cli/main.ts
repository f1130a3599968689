// Entry point of the `tessera` binary (bin/tessera.js imports this file).
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv);
