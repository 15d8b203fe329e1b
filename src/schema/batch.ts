import DataLoader from 'dataloader';

/**
 * Loaders that collect the loads of one unit of work into one query: one per
 * HTTP request, or one per published event, shared by every subscriber's
 * execution of that event (so a viewer-dependent field such as
 * `Channel.unreadCount` costs one query per event, not one per subscriber).
 */
export class Batch {
  private readonly loaders = new Map<string, DataLoader<unknown, unknown>>();

  /** The loader named `name` in this batch, created with `load` the first time. */
  loader<K, V>(name: string, load: (keys: readonly K[]) => Promise<V[]>): DataLoader<K, V> {
    let loader = this.loaders.get(name) as DataLoader<K, V> | undefined;
    if (!loader) {
      // Scheduled after I/O callbacks, so that subscribers woken by the same
      // event (in any order, over several ticks) land in one batch.
      loader = new DataLoader<K, V>(load, { batchScheduleFn: (callback) => setImmediate(callback) });
      this.loaders.set(name, loader as DataLoader<unknown, unknown>);
    }
    return loader;
  }
}

const perEvent = new WeakMap<object, Batch>();

/** The batch of one published event (keyed by its payload object, as pub/sub shares it). */
export function eventBatch(payload: object): Batch {
  let batch = perEvent.get(payload);
  if (!batch) perEvent.set(payload, (batch = new Batch()));
  return batch;
}
