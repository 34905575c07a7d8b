import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; one line per lifecycle event and per error, none per success. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'volley' }, timestamp: pino.stdTimeFunctions.isoTime });
}
