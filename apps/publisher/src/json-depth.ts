import { HttpProblem } from '@fanout/http';

/**
 * The deepest nesting a request may have. The deepest legal one is 6 levels (a batch's event's
 * `data.steps` entries: `{"events":[{"data":{"steps":[{…}]}}]}`); anything much deeper is hostile,
 * and must be refused before a recursive walk of it (JSON.stringify, the schema) overflows the stack.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Whether UTF-8 JSON text nests arrays and objects deeper than `limit` (brackets inside strings do not count). */
export function nestsDeeperThan(json: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const byte = json[i]!;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      if (++depth > limit) return true;
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/** Refuses UTF-8 JSON text nested deeper than MAX_JSON_DEPTH, before it is parsed. */
export function refuseDeepJson(utf8Json: Uint8Array): void {
  if (nestsDeeperThan(utf8Json, MAX_JSON_DEPTH)) throw new HttpProblem(400, `the JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
}
