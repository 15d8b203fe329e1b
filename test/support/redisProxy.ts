import net from 'node:net';
import { afterAll } from 'vitest';

/**
 * A TCP proxy of the test's own between Parley and Redis, to make Redis fail
 * the ways networks do: refuse new connections, cut the open ones, or hold
 * their packets (a partition: nothing flows, nothing closes).
 */
export interface RedisProxy {
  /** `redis://` URL of the proxy. */
  readonly url: string;
  /** Closes every open connection; with `refuse`, new ones are closed as they arrive until {@link heal}. */
  cut(options?: { refuse?: boolean }): void;
  /** Stops forwarding on every connection (open and new) without closing any, until {@link heal}. */
  partition(): void;
  /** Forwards again: held bytes flow, new connections are accepted. */
  heal(): void;
  close(): Promise<void>;
}

type Mode = 'open' | 'refusing' | 'partitioned';

const proxies = new Set<RedisProxy>();

/** Starts a proxy to `target` (a redis:// URL) on a free local port; closed after the file. */
export async function startRedisProxy(target: string): Promise<RedisProxy> {
  const { hostname, port } = new URL(target);
  let mode: Mode = 'open';
  const pairs = new Set<[net.Socket, net.Socket]>();

  const server = net.createServer((client) => {
    if (mode === 'refusing') {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: hostname, port: Number(port || 6379) });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    // By hand rather than pipe(): a paused socket must stay paused until heal().
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
    if (mode === 'partitioned') hold(pair);
  });
  const hold = ([client, upstream]: [net.Socket, net.Socket]) => {
    client.pause();
    upstream.pause();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;

  const proxy: RedisProxy = {
    url: `redis://127.0.0.1:${address.port}`,
    cut: ({ refuse = false } = {}) => {
      if (refuse) mode = 'refusing';
      for (const [client, upstream] of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
    },
    partition: () => {
      mode = 'partitioned';
      for (const pair of pairs) hold(pair);
    },
    heal: () => {
      mode = 'open';
      for (const [client, upstream] of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    close: async () => {
      if (!proxies.delete(proxy)) return;
      proxy.cut({ refuse: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  proxies.add(proxy);
  return proxy;
}

afterAll(async () => {
  await Promise.all([...proxies].map((proxy) => proxy.close()));
});
