/** Structured JSON logs (pino) on stdout; TESSERA_LOG_LEVEL sets the level. */
import { pino, type Logger } from 'pino';

export function createLogger(service: string, fields: Record<string, unknown> = {}): Logger {
  return pino({ level: process.env.TESSERA_LOG_LEVEL || 'info', base: { service, ...fields } });
}
export type { Logger };
