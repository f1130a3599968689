/**
 * The environment variables every service reads that are not the variable of one of its flags:
 * appended to `--help` of tessera-coordinator and tessera-agent (and documented in
 * docs/operations.md), so `--help` names everything that configures a process.
 */
import { LOG_LEVELS } from './log.js';

export const SERVICE_ENV_HELP = `
Environment (besides each flag's variable shown above):
  TESSERA_LOG_LEVEL            log level of the JSON logs on stdout: ${LOG_LEVELS.join(', ')} (default: info)
  TESSERA_NATS_USER            NATS user (with TESSERA_NATS_PASSWORD or TESSERA_NATS_PASSWORD_FILE)
  TESSERA_NATS_PASSWORD        NATS password
  TESSERA_NATS_PASSWORD_FILE   file holding the NATS password (e.g. a mounted Kubernetes Secret)
  TESSERA_NATS_NKEY_SEED_FILE  file holding an nkey seed, used instead of a user and password
`;
