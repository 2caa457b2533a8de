import { format } from 'node:util';
import { Logger } from './logger';

/**
 * Sends what libraries print with `console.warn` (ioredis does, for a password the server does not
 * need) to `logger` as a warning, so a process's output stays one JSON line per event. Returns the
 * function that puts `console.warn` back.
 */
export function logConsoleWarnings(logger: Logger): () => void {
  const original = console.warn;
  const logged = (...args: unknown[]): void => logger.warn({ source: 'console.warn' }, format(...args));
  console.warn = logged;
  return () => {
    if (console.warn === logged) console.warn = original;
  };
}
