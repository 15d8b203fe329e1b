import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

/** s3rver's built-in key pair. */
export const S3_ACCESS_KEY_ID = 'S3RVER';
export const S3_SECRET_ACCESS_KEY = 'S3RVER';
export const S3_REGION = 'us-east-1';

const hmac = (key: crypto.BinaryLike, data: string) => crypto.createHmac('sha256', key).update(data).digest();
const sha256 = (data: string) => crypto.createHash('sha256').update(data).digest('hex');
const encode = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

interface Parsed {
  accessKeyId: string;
  scope: string[];
  amzDate: string;
  signedHeaders: string[];
  signature: string;
  payloadHash: string;
  expiresAt: number | null;
}

function parseAuth(req: http.IncomingMessage, query: [string, string][]): Parsed | string {
  const q = new Map(query);
  if (q.has('X-Amz-Algorithm')) {
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return 'unsupported algorithm';
    const [accessKeyId, ...scope] = (q.get('X-Amz-Credential') ?? '').split('/');
    const amzDate = q.get('X-Amz-Date') ?? '';
    const issued = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    return {
      accessKeyId: accessKeyId ?? '',
      scope,
      amzDate,
      signedHeaders: (q.get('X-Amz-SignedHeaders') ?? '').split(';'),
      signature: q.get('X-Amz-Signature') ?? '',
      payloadHash: 'UNSIGNED-PAYLOAD',
      expiresAt: issued + Number(q.get('X-Amz-Expires') ?? 0) * 1000,
    };
  }
  const header = req.headers.authorization ?? '';
  const match = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(header);
  if (!match) return 'no SigV4 authorization';
  const [accessKeyId, ...scope] = match[1]!.split('/');
  return {
    accessKeyId: accessKeyId ?? '',
    scope,
    amzDate: String(req.headers['x-amz-date'] ?? ''),
    signedHeaders: match[2]!.split(';'),
    signature: match[3]!,
    payloadHash: String(req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD'),
    expiresAt: null,
  };
}

/**
 * Checks an S3 request's Signature Version 4 (header or presigned query)
 * against `secret`: s3rver itself does not verify V4 signatures, so this is
 * what makes the tests fail when Parley signs wrongly. Returns the problem, or null.
 */
export function verifySigV4(req: http.IncomingMessage, secrets: Map<string, string>, now = Date.now()): string | null {
  const [rawPath, rawQuery = ''] = (req.url ?? '/').split('?');
  const query = rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => pair.split('=').map((part) => decodeURIComponent(part.replace(/\+/g, '%20'))) as [string, string]);
  const auth = parseAuth(req, query);
  if (typeof auth === 'string') return auth;
  const secret = secrets.get(auth.accessKeyId);
  if (!secret) return 'unknown access key';
  if (auth.expiresAt !== null && auth.expiresAt < now) return 'expired';
  const canonicalQuery = query
    .filter(([key]) => key !== 'X-Amz-Signature')
    .map(([key, value]) => [encode(key), encode(value ?? '')] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const headers = auth.signedHeaders.map((name) => {
    const value = req.headers[name];
    return `${name}:${String(Array.isArray(value) ? value.join(',') : (value ?? '')).trim().replace(/\s+/g, ' ')}\n`;
  });
  const canonical = [req.method, rawPath, canonicalQuery, headers.join(''), auth.signedHeaders.join(';'), auth.payloadHash].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', auth.amzDate, auth.scope.join('/'), sha256(canonical)].join('\n');
  let key: Buffer = hmac(`AWS4${secret}`, auth.scope[0] ?? '');
  for (const part of auth.scope.slice(1)) key = hmac(key, part);
  const expected = hmac(key, stringToSign).toString('hex');
  return expected === auth.signature ? null : 'signature does not match';
}

export interface TestS3 {
  /** The endpoint Parley talks to: a proxy that verifies SigV4, in front of s3rver. */
  endpoint: string;
  bucket: string;
  /** Requests the proxy refused, with why. */
  refused: string[];
  /** Whether an object is stored (asked of s3rver directly). */
  exists(key: string): boolean;
  close(): Promise<void>;
}

/** s3rver on a real socket, behind a proxy that refuses requests whose SigV4 signature is wrong. */
export async function startS3(bucket = 'parley-test'): Promise<TestS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-s3-'));
  const s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port: s3Port } = (await s3rver.run()) as AddressInfo;
  const secrets = new Map([[S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY]]);
  const refused: string[] = [];
  const proxy = http.createServer((req, res) => {
    const problem = verifySigV4(req, secrets);
    if (problem) {
      refused.push(`${req.method} ${req.url}: ${problem}`);
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' }).end(`<Error><Code>SignatureDoesNotMatch</Code><Message>${problem}</Message></Error>`);
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: s3Port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    refused,
    exists: (key) => fs.existsSync(path.join(directory, bucket, `${key}._S3rver_object`)),
    async close() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await s3rver.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
