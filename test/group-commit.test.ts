import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/groupCommit.ts';

/** A write that waits until the test lets it finish, recording every batch it was given. */
function gatedWriter<I>(answer: (item: I) => string = (item) => `ok ${String(item)}`) {
  const batches: I[][] = [];
  const gates: (() => void)[] = [];
  let failWhen: ((items: I[]) => unknown) | null = null;
  return {
    batches,
    /** Lets the oldest write still waiting finish. */
    release: () => gates.shift()?.(),
    failWith: (when: (items: I[]) => unknown) => {
      failWhen = when;
    },
    write: async (items: I[]) => {
      batches.push(items);
      await new Promise<void>((resolve) => gates.push(resolve));
      const error = failWhen?.(items);
      if (error) throw error;
      return items.map(answer);
    },
  };
}

class Refused extends Error {}

describe('group commit', () => {
  it('writes an item alone when idle, then everything that arrived during that write as one batch', async () => {
    const writer = gatedWriter<number>();
    const queue = new GroupCommit({ ...writer, maxBatch: 100, maxInFlight: 1, retryAlone: () => true });
    const first = queue.submit(0);
    const rest = [1, 2, 3, 4].map((n) => queue.submit(n));
    expect(writer.batches).toEqual([[0]]);
    expect(queue.waiting).toBe(4);
    expect(queue.writing).toBe(1);
    writer.release();
    expect(await first).toBe('ok 0');
    expect(writer.batches).toEqual([[0], [1, 2, 3, 4]]);
    writer.release();
    expect(await Promise.all(rest)).toEqual(['ok 1', 'ok 2', 'ok 3', 'ok 4']);
    expect(queue.writes).toBe(2);
    await queue.drained();
  });

  it('answers no item before the write that carries it has finished', async () => {
    const writer = gatedWriter<number>();
    const queue = new GroupCommit({ ...writer, maxBatch: 100, maxInFlight: 1, retryAlone: () => true });
    let answered = false;
    const sent = queue.submit(1).then(() => (answered = true));
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    writer.release();
    await sent;
    expect(answered).toBe(true);
  });

  it('caps batches at maxBatch and keeps maxInFlight writes going at once', async () => {
    const writer = gatedWriter<number>();
    const queue = new GroupCommit({ ...writer, maxBatch: 3, maxInFlight: 2, retryAlone: () => true });
    const all = Array.from({ length: 10 }, (_, n) => queue.submit(n));
    // Two single writes started while slots were free; the rest waits.
    expect(writer.batches).toEqual([[0], [1]]);
    expect(queue.waiting).toBe(8);
    while (writer.batches.flat().length < 10 || queue.writing > 0) {
      writer.release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(all)).toEqual(Array.from({ length: 10 }, (_, n) => `ok ${n}`));
    expect(writer.batches).toEqual([[0], [1], [2, 3, 4], [5, 6, 7], [8, 9]]);
  });

  it('writes each item of a refused batch alone, so that only the bad one fails', async () => {
    const writer = gatedWriter<string>();
    writer.failWith((items) => (items.includes('bad') ? new Refused('bad item') : null));
    const queue = new GroupCommit({ ...writer, maxBatch: 100, maxInFlight: 1, retryAlone: (error) => error instanceof Refused });
    const first = queue.submit('first');
    const batch = ['a', 'bad', 'b'].map((item) => queue.submit(item).then((v) => v, (error: Error) => error));
    writer.release();
    await first;
    // The batch, then each item alone.
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      writer.release();
    }
    const [a, bad, b] = await Promise.all(batch);
    expect(a).toBe('ok a');
    expect(b).toBe('ok b');
    expect(bad).toBeInstanceOf(Refused);
    expect(writer.batches).toEqual([['first'], ['a', 'bad', 'b'], ['a'], ['bad'], ['b']]);
  });

  it('fails every item of a batch that may have been written (a lost connection), without writing it again', async () => {
    const writer = gatedWriter<string>();
    writer.failWith((items) => (items.length > 1 ? new Error('connection lost') : null));
    const queue = new GroupCommit({ ...writer, maxBatch: 100, maxInFlight: 1, retryAlone: (error) => error instanceof Refused });
    const first = queue.submit('first');
    const batch = ['a', 'b'].map((item) => queue.submit(item).then((v) => v, (error: Error) => error.message));
    writer.release();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    writer.release();
    expect(await Promise.all(batch)).toEqual(['connection lost', 'connection lost']);
    expect(writer.batches).toEqual([['first'], ['a', 'b']]);
  });
});
