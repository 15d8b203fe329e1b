import type http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { DomainError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import { receiveUpload, UploadRefusal } from '../services/attachments.ts';
import { checkSignature, FILES_PATH, openDownload, type FileVariant } from '../services/attachmentUrls.ts';
import { contentDisposition } from '../storage/index.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function answer(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(`${JSON.stringify(body)}\n`);
}

const refuse = (res: http.ServerResponse, status: number, message: string, close = false) =>
  answer(res, status, { error: message }, close ? { connection: 'close' } : {});

/** CORS for browsers that PUT an upload or fetch a file from another origin (CORS_ORIGINS). */
function cors(rt: Runtime, req: http.IncomingMessage, res: http.ServerResponse): void {
  const origin = req.headers.origin;
  const allowed = rt.config.corsOrigins;
  if (!origin || (allowed !== '*' && !allowed.includes(origin))) return;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  res.setHeader('access-control-allow-methods', 'GET, HEAD, PUT, OPTIONS');
  res.setHeader('access-control-allow-headers', 'content-type');
  res.setHeader('access-control-max-age', '600');
}

/**
 * `/files/<id>`: Parley's own signed, expiring URLs for the local store.
 * `GET ?variant=original|thumbnail&expires=…&signature=…` serves a file (or
 * its thumbnail) while its message exists; `PUT ?expires=…&signature=…`
 * takes the bytes of a two-step upload: exactly the size promised, sniffed
 * and stored as an upload through GraphQL is. Returns false for other paths.
 */
export function handleFiles(rt: Runtime, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://parley');
  if (!url.pathname.startsWith(FILES_PATH)) return false;
  const id = url.pathname.slice(FILES_PATH.length);
  cors(rt, req, res);
  const done = (error: unknown) => {
    rt.log('error', `serving ${req.method} ${FILES_PATH}… failed`, error);
    if (!res.headersSent) refuse(res, 500, 'Unexpected error.');
    else res.destroy();
  };
  if (!UUID.test(id)) refuse(res, 404, 'No such file.');
  else if (req.method === 'OPTIONS') res.writeHead(204).end();
  else if (req.method === 'GET' || req.method === 'HEAD') download(rt, id, url, req, res).catch(done);
  else if (req.method === 'PUT') upload(rt, id, url, req, res).catch(done);
  else refuse(res, 405, 'Use GET or PUT.');
  return true;
}

async function download(rt: Runtime, id: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const variant = url.searchParams.get('variant');
  if (variant !== 'original' && variant !== 'thumbnail') return refuse(res, 403, 'This link is not valid.');
  const check = checkSignature(rt, `get:${id}:${variant}`, url.searchParams.get('expires'), url.searchParams.get('signature'));
  if (check !== 'ok') return refuse(res, 403, check === 'expired' ? 'This link has expired; ask for the file again.' : 'This link is not valid.');
  const file = await openDownload(rt, id, variant as FileVariant);
  if (!file) return refuse(res, 404, 'This file does not exist (any more).');
  res.writeHead(200, {
    'content-type': file.contentType,
    ...(file.size !== null ? { 'content-length': String(file.size) } : {}),
    'content-disposition': contentDisposition(file.fileName, file.inline),
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'private, max-age=300',
  });
  if (req.method === 'HEAD') {
    file.body.destroy();
    res.end();
    return;
  }
  await pipeline(file.body, res);
}

async function upload(rt: Runtime, id: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const pending = await rt.prisma.attachment.findUnique({ where: { id }, select: { size: true } });
  const check = pending
    ? checkSignature(rt, `put:${id}:${pending.size}`, url.searchParams.get('expires'), url.searchParams.get('signature'))
    : 'invalid';
  if (check !== 'ok') {
    return refuse(res, 403, check === 'expired' ? 'This upload URL has expired; create the upload again.' : 'This upload URL is not valid.', true);
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) !== pending!.size) {
    return refuse(res, Number(declared) > pending!.size ? 413 : 400, `This upload takes exactly ${pending!.size} bytes.`, true);
  }
  try {
    const attachment = await receiveUpload(rt, id, req);
    answer(res, 200, {
      attachment: {
        id: encodeGlobalID('Attachment', attachment.id),
        contentType: attachment.contentType,
        size: attachment.size,
        width: attachment.width,
        height: attachment.height,
      },
    });
  } catch (error) {
    if (error instanceof UploadRefusal) return refuse(res, error.status, error.message, true);
    if (error instanceof DomainError) return refuse(res, 400, error.message, true);
    throw error;
  }
}
