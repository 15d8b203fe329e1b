/**
 * Group commit: items submitted while earlier writes are in flight wait in a
 * queue and are written together, as one batch, when a write slot frees up.
 * No timers: an item arriving at an idle queue is written at once, alone;
 * under load, batches grow by themselves to whatever arrived during one write.
 * Each submitter's promise settles with its own item's outcome, after the
 * write that carried it has finished (committed, for a database write).
 */
export interface GroupCommitOptions<I, O> {
  /** Writes a batch and returns one outcome per item, in the items' order. */
  write(items: I[]): Promise<O[]>;
  /**
   * Whether a failed batch certainly wrote nothing (the database refused the
   * statement), so that each of its items can be written again alone and a
   * bad item cannot take the others down with it. Otherwise (a lost
   * connection: the batch may have committed) every item fails with the error.
   */
  retryAlone(error: unknown): boolean;
  /** The most items in one batch. */
  maxBatch: number;
  /** The most writes in flight at once (1 serialises them). */
  maxInFlight: number;
}

interface Waiting<I, O> {
  item: I;
  resolve(outcome: O): void;
  reject(error: unknown): void;
}

export class GroupCommit<I, O> {
  readonly #options: GroupCommitOptions<I, O>;
  #queue: Waiting<I, O>[] = [];
  #inFlight = 0;
  #writing = 0;
  #writes = 0;
  #idle: (() => void)[] = [];

  constructor(options: GroupCommitOptions<I, O>) {
    if (options.maxBatch < 1 || options.maxInFlight < 1) throw new RangeError('maxBatch and maxInFlight must be at least 1');
    this.#options = options;
  }

  /** Queues `item` for the next batch; settles once the write that carries it has finished. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  /** Items waiting for a write slot (not yet in a batch). */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Items in batches being written. */
  get writing(): number {
    return this.#writing;
  }

  /** Calls of `write` so far, retries of single items included: each is one statement. */
  get writes(): number {
    return this.#writes;
  }

  /** Resolves once nothing is queued or in flight. */
  drained(): Promise<void> {
    if (this.#inFlight === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#inFlight < this.#options.maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.maxBatch);
      this.#inFlight++;
      this.#writing += batch.length;
      void this.#flush(batch).then((answer) => {
        this.#inFlight--;
        this.#writing -= batch.length;
        // The next batch goes to the database before this one's callers run.
        this.#pump();
        answer();
        if (this.#inFlight === 0 && this.#queue.length === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
    }
  }

  /** Writes a batch; resolves (never rejects) with what answers its items. */
  async #flush(batch: Waiting<I, O>[]): Promise<() => void> {
    let outcomes: O[];
    try {
      outcomes = await this.#write(batch.map((w) => w.item));
    } catch (error) {
      if (batch.length === 1 || !this.#options.retryAlone(error)) {
        return () => batch.forEach((waiting) => waiting.reject(error));
      }
      // Nothing of the batch was written: each item gets its own answer.
      for (const waiting of batch) {
        try {
          const [outcome] = await this.#write([waiting.item]);
          if (outcome === undefined) throw new Error('a write of one item returned no outcome');
          waiting.resolve(outcome);
        } catch (itemError) {
          waiting.reject(itemError);
        }
      }
      return () => {};
    }
    if (outcomes.length !== batch.length) {
      const error = new Error(`a batch write returned ${outcomes.length} outcomes for ${batch.length} items`);
      return () => batch.forEach((waiting) => waiting.reject(error));
    }
    return () => batch.forEach((waiting, i) => waiting.resolve(outcomes[i]!));
  }

  #write(items: I[]): Promise<O[]> {
    this.#writes++;
    return this.#options.write(items);
  }
}
