import type { Logger } from 'pino';

/**
 * A warning for something that may happen many times a second (a limit refusing or closing
 * connections): logged at most once every `everyMs`, each line with how many there were since the
 * last one (the field `countAs`) and `fields`. Returns what to call each time, with how many.
 */
export function throttledWarning(logger: Logger, everyMs: number, message: string, countAs: string, fields: Record<string, unknown> = {}): (howMany?: number) => void {
  let count = 0;
  let loggedAt = -Infinity;
  return (howMany = 1) => {
    count += howMany;
    const now = Date.now();
    if (now - loggedAt < everyMs) return;
    logger.warn({ [countAs]: count, ...fields }, message);
    count = 0;
    loggedAt = now;
  };
}
