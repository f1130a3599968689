/** Structured JSON logs (pino) on stdout; TESSERA_LOG_LEVEL sets the level. */
import { pino, type Logger } from 'pino';

/** The log levels TESSERA_LOG_LEVEL takes (pino's), most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function createLogger(service: string, fields: Record<string, unknown> = {}): Logger {
  return pino({ level: process.env.TESSERA_LOG_LEVEL || 'info', base: { service, ...fields } });
}
export type { Logger };
