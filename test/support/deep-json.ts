/** `depth` nested JSON arrays around `inner`: `[[[1]]]` for depth 3. */
export function nestedJson(depth: number, inner = '1'): string {
  return '['.repeat(depth) + inner + ']'.repeat(depth);
}

/**
 * Bodies nested about a million levels deep, each under the 4 MiB request limit: the whole body,
 * inside an event's field, and around the event of a batch (`event` is one valid event's JSON).
 */
export function millionDeepBodies(event: string): string[] {
  return [
    nestedJson(1_000_000),
    event.replace('"data":{', `"extra":${nestedJson(1_000_000)},"data":{`),
    `{"events":[${nestedJson(999_990, event)}]}`,
  ];
}
