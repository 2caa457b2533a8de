import { EVENT_TYPE_NAMES } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

/** How a stream of subjects delivers: which event types (all when undefined), and whether superseded progress may be skipped. */
export interface DeliveryOptions {
  types: ReadonlySet<string> | undefined;
  conflate: boolean;
}

export const DELIVER_EVERYTHING: DeliveryOptions = { types: undefined, conflate: false };

/** `?types=a,b` (repeated parameters add up): undefined when absent (or empty), else a set of known event types, else a 400. */
export function parseTypes(values: readonly string[]): ReadonlySet<string> | undefined {
  const given = values.filter((value) => value !== '');
  if (given.length === 0) return undefined;
  const names = given.join(',').split(',');
  const unknown = names.filter((name) => !(EVENT_TYPE_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length > EVENT_TYPE_NAMES.length * 4) {
    const shown = JSON.stringify((unknown[0] ?? names.join(',')).slice(0, 64));
    throw new HttpProblem(400, `invalid types: ${shown} is not an event type; expected a comma-separated list of ${EVENT_TYPE_NAMES.join(', ')}`, {
      errors: [{ path: 'types', message: `comma-separated event types: ${EVENT_TYPE_NAMES.join(', ')}` }],
    });
  }
  return new Set(names);
}

/** `?conflate=progress`, or nothing (absent or empty); anything else is a 400. */
export function parseConflate(value: string | null): boolean {
  if (value === null || value === '') return false;
  if (value === 'progress') return true;
  throw new HttpProblem(400, `invalid conflate ${JSON.stringify(value.slice(0, 32))}: the only value is progress`, {
    errors: [{ path: 'conflate', message: 'progress' }],
  });
}

/** The activity stream carries only `subject.updated`: it takes neither parameter (empty counts as none, as everywhere). */
export function refuseSubjectStreamOptions(query: URLSearchParams): void {
  for (const name of ['types', 'conflate']) {
    if (query.getAll(name).some((value) => value !== '')) throw new HttpProblem(400, `${name} applies to subject streams, not to the activity stream`, { errors: [{ path: name, message: 'not taken here' }] });
  }
}
