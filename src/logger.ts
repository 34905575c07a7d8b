import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** pino's level names, most severe first; `--log-level` and the logging extension take these. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** JSON lines on stdout; one line per lifecycle event and per error, none per success. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'volley' }, timestamp: pino.stdTimeFunctions.isoTime });
}
