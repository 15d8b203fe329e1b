import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll } from 'vitest';
import { testDataDir } from './server.ts';

/*
 * Real receivers for what Parley sends out: an SMTP server, an HTTPS push
 * service endpoint and an HTTP webhook endpoint, each recording what arrived.
 */

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Resolves with the first item of `list` (now or later) that matches, or fails after `ms`. */
export function arrival<T>(box: { items: T[]; waiters: Set<() => void> }, match: (item: T) => boolean, what: string, ms = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = box.items.find(match);
      if (!found) return false;
      clearTimeout(timer);
      box.waiters.delete(check);
      resolve(found);
      return true;
    };
    const timer = setTimeout(() => {
      box.waiters.delete(check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    if (!check()) box.waiters.add(check);
  });
}

function box<T>() {
  const b = { items: [] as T[], waiters: new Set<() => void>() };
  return {
    ...b,
    add(item: T) {
      b.items.push(item);
      for (const waiter of [...b.waiters]) waiter();
    },
  };
}

/** An SMTP server in this process; every message arrives parsed. */
export async function startMailbox() {
  const mails = box<ParsedMail>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          mails.add(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    /** The first mail to `address` (now or later). */
    to: (address: string, ms?: number) =>
      arrival(mails, (mail) => JSON.stringify(mail.to).includes(address), `a mail to ${address}`, ms),
    countTo: (address: string) => mails.items.filter((mail) => JSON.stringify(mail.to).includes(address)).length,
  };
}

/** A self-signed certificate for 127.0.0.1 (made with openssl, once per test file). */
function certificate(): { key: Buffer; cert: Buffer } {
  const dir = path.join(testDataDir, 'tls');
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  if (!fs.existsSync(cert)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  }
  return { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
}

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * An HTTP(S) endpoint recording every POST; `status(path)` chooses the answer
 * (default 201).
 */
export async function startEndpoint(options: { tls?: boolean; status?: (path: string) => number } = {}) {
  const requests = box<Received>();
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const status = options.status?.(req.url ?? '/') ?? 201;
      requests.add({ path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(status).end();
    });
  };
  const server = options.tls ? https.createServer(certificate(), handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return {
    base: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    at: (pathname: string, ms?: number) => arrival(requests, (r) => r.path === pathname, `a request to ${pathname}`, ms),
    /** The first request (now or later) that `test` accepts. */
    matching: (test: (request: Received) => boolean, what: string, ms?: number) => arrival(requests, test, what, ms),
  };
}
