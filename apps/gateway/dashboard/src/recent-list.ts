/** Appends `item`, keeping the last `max` items (the oldest go in chunks of a tenth, not one per push). */
export function pushRecent<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max + Math.ceil(max / 10)) list.splice(0, list.length - max);
}
