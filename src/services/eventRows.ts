/**
 * Work shared by every local subscriber of one published event. Pub/sub
 * hands the same payload object to all of this instance's listeners, so a
 * load keyed by that object runs once per event per instance, however many
 * subscribers resolve it and whichever ticks their executions fall in.
 * Entries live as long as the payload does.
 */
const shared = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * Loads `key` for `event` once; each caller gets its own shallow copy of the
 * row, so nothing one subscriber's execution attaches to it reaches another.
 */
export async function loadOncePerEvent<T extends object | null>(event: object, key: string, load: () => Promise<T>): Promise<T> {
  let loads = shared.get(event);
  if (!loads) shared.set(event, (loads = new Map()));
  let pending = loads.get(key) as Promise<T> | undefined;
  if (!pending) {
    pending = load();
    loads.set(key, pending);
  }
  const row = await pending;
  return (row ? { ...row } : row) as T;
}

/** Records `row` as what {@link loadOncePerEvent} gives for `key` of `event` (rows read ahead for a page of events). */
export function primeOncePerEvent<T extends object | null>(event: object, key: string, row: T): void {
  let loads = shared.get(event);
  if (!loads) shared.set(event, (loads = new Map()));
  if (!loads.has(key)) loads.set(key, Promise.resolve(row));
}
