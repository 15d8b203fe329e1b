import net from 'node:net';
import { afterAll } from 'vitest';

/**
 * A TCP proxy between Parley and a server (Postgres) that can misbehave the
 * way networks do: `refuse` new connections, `cut` the open ones, or
 * `partition` (hold every byte in both directions, closing nothing, so the
 * peers see silence). `heal` forwards again, held bytes first.
 */
export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  partition(): void;
  refuse(): void;
  /** Destroys every open connection (both sides see a reset or an end). */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

type Mode = 'pass' | 'partition' | 'refuse';

const proxies = new Set<TcpProxy>();

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: Mode = 'pass';
  let accepted = 0;
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; flush(): void }>();

  const server = net.createServer((client) => {
    accepted++;
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target);
    const held: { to: net.Socket; chunk: Buffer }[] = [];
    const forward = (to: net.Socket) => (chunk: Buffer) => {
      if (mode === 'partition') held.push({ to, chunk });
      else to.write(chunk);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const pair = {
      client,
      upstream,
      flush() {
        for (const { to, chunk } of held.splice(0)) if (!to.destroyed) to.write(chunk);
      },
    };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const proxy: TcpProxy = {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    partition: () => void (mode = 'partition'),
    refuse: () => void (mode = 'refuse'),
    cut() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
    },
    heal() {
      mode = 'pass';
      for (const pair of pairs) pair.flush();
    },
    async close() {
      proxies.delete(proxy);
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  proxies.add(proxy);
  return proxy;
}

afterAll(async () => {
  for (const proxy of [...proxies]) await proxy.close();
});
