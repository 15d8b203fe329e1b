import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { print } from 'graphql';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AttachmentNodeDocument,
  ChannelEventsWithAttachmentsDocument,
  ChannelFilesDocument,
  ChannelMessagesWithAttachmentsDocument,
  CreateUploadDocument,
  DeleteMessageDocument,
  MessageAddedWithAttachmentsDocument,
  MessageAttachmentsDocument,
  SetAvatarDocument,
  UserAvatarDocument,
  SendMessageWithAttachmentsDocument,
  UploadFileDocument,
} from '../client/generated/graphql.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { decodeId } from '../src/schema/ids.ts';
import { authenticate } from '../src/services/auth.ts';
import { cleanUpFiles, UNATTACHED_TTL_MS } from '../src/services/attachments.ts';
import { sendMessage } from '../src/services/message.ts';
import { downloadUrl } from '../src/services/attachmentUrls.ts';
import { connect, ok, refused, subscribe, type GraphQLResponse } from './support/client.ts';
import { startS3, S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY, type TestS3 } from './support/s3.ts';
import { backendName, startServer, testDataDir, until, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

/** The limit the suite's server runs with: big enough for its images, small enough to pass cheaply. */
const MAX_UPLOAD_BYTES = 256 * 1024;

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let outsider: TestUser;
let workspaceId: string;
let otherWorkspaceId: string;
let general: string;
let secret: string;
let png: Buffer;
let jpeg: Buffer;

beforeAll(async () => {
  server = await startServer({ attachments: { maxUploadBytes: MAX_UPLOAD_BYTES } });
  [ann, bob, cat, outsider] = await signUpUsers(server, 'ann', 'bob', 'cat', 'outsider');
  workspaceId = await workspaceWith(server, ann, [bob, cat]);
  otherWorkspaceId = await workspaceWith(server, outsider);
  general = await channelWith(server, workspaceId, ann, [bob, cat]);
  secret = await channelWith(server, workspaceId, ann, [bob], { private: true });
  png = await sharp({ create: { width: 640, height: 480, channels: 4, background: { r: 200, g: 30, b: 30, alpha: 1 } } }).png().toBuffer();
  jpeg = await sharp({ create: { width: 300, height: 900, channels: 3, background: { r: 10, g: 120, b: 200 } } }).jpeg().toBuffer();
}, 60_000);

/** A Buffer as a fetch body (a Uint8Array over its own ArrayBuffer). */
const bytes = (buffer: Buffer) => new Uint8Array(buffer);

/** uploadFile as a GraphQL multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec). */
async function upload(
  target: TestServer,
  token: string,
  file: { bytes: Buffer; name: string; type: string },
  workspace = workspaceId,
) {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: print(UploadFileDocument), variables: { workspaceId: workspace, file: null } }));
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', new Blob([bytes(file.bytes)], { type: file.type }), file.name);
  const response = await fetch(target.url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  return (await response.json()) as GraphQLResponse<{
    uploadFile: { id: string; name: string; contentType: string; size: number; width: number | null; height: number | null; url: string; thumbnailUrl: string | null };
  }>;
}

async function uploaded(target: TestServer, token: string, file: { bytes: Buffer; name: string; type: string }, workspace = workspaceId) {
  const result = await upload(target, token, file, workspace);
  if (!result.data?.uploadFile) throw new Error(`upload failed: ${JSON.stringify(result.errors)}`);
  return result.data.uploadFile;
}

/** Fetches a URL Parley handed out (a path on the server unless PUBLIC_URL is set). */
const fetchUrl = (target: TestServer, url: string, init?: RequestInit) => fetch(new URL(url, target.url), init);

const bytesOf = async (response: Response) => Buffer.from(await response.arrayBuffer());

const rowCount = (target: TestServer) => target.app.runtime.prisma.attachment.count();

function storedFiles(): string[] {
  const root = path.join(testDataDir, 'files');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name);
}

describe(`attachments (${backendName})`, () => {
  describe('uploading in one multipart request', () => {
    it('stores a PNG and a JPEG, measures them and makes WebP thumbnails', async () => {
      const first = await uploaded(server, ann.token, { bytes: png, name: 'red.png', type: 'image/png' });
      expect(first).toMatchObject({ name: 'red.png', contentType: 'image/png', size: png.byteLength, width: 640, height: 480 });
      const second = await uploaded(server, ann.token, { bytes: jpeg, name: 'photos/blue.jpg', type: 'image/jpeg' });
      expect(second).toMatchObject({ name: 'blue.jpg', contentType: 'image/jpeg', size: jpeg.byteLength, width: 300, height: 900 });

      const original = await fetchUrl(server, first.url);
      expect(original.status).toBe(200);
      expect(original.headers.get('content-type')).toBe('image/png');
      expect((await bytesOf(original)).equals(png)).toBe(true);

      const thumbnail = await fetchUrl(server, second.thumbnailUrl!);
      expect(thumbnail.headers.get('content-type')).toBe('image/webp');
      const meta = await sharp(await bytesOf(thumbnail)).metadata();
      expect(meta.format).toBe('webp');
      // 300×900 fits 320×320 as about 107×320.
      expect(meta.height).toBe(320);
      expect(meta.width).toBeLessThan(110);
    });

    it('takes the content type from the bytes, not from the name or the client', async () => {
      const lying = await uploaded(server, ann.token, { bytes: png, name: 'notes.txt', type: 'text/plain' });
      expect(lying).toMatchObject({ name: 'notes.txt', contentType: 'image/png', width: 640, height: 480 });
      expect(lying.thumbnailUrl).not.toBeNull();

      const random = crypto.randomBytes(2000);
      const fake = await uploaded(server, ann.token, { bytes: random, name: 'photo.png', type: 'image/png' });
      expect(fake).toMatchObject({ contentType: 'application/octet-stream', width: null, height: null, thumbnailUrl: null });
      const served = await fetchUrl(server, fake.url);
      expect(served.headers.get('content-type')).toBe('application/octet-stream');
      expect(served.headers.get('content-disposition')).toMatch(/^attachment;/);

      const pdf = await uploaded(server, ann.token, { bytes: Buffer.from('%PDF-1.7\n%…\n'), name: 'report', type: 'image/png' });
      expect(pdf.contentType).toBe('application/pdf');
    });

    it('refuses a file over MAX_UPLOAD_BYTES with BAD_USER_INPUT and stores nothing', async () => {
      const rows = await rowCount(server);
      const files = storedFiles().length;
      const big = await upload(server, ann.token, { bytes: crypto.randomBytes(MAX_UPLOAD_BYTES + 1), name: 'big.bin', type: 'application/octet-stream' });
      expect(big.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(big.errors?.[0]?.message).toMatch(/limit/);
      const empty = await upload(server, ann.token, { bytes: Buffer.alloc(0), name: 'empty.bin', type: 'application/octet-stream' });
      expect(empty.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(await rowCount(server)).toBe(rows);
      expect(storedFiles()).toHaveLength(files);
    });

    it('refuses uploads to a workspace the caller is not in, and callers without a token', async () => {
      const elsewhere = await upload(server, ann.token, { bytes: png, name: 'a.png', type: 'image/png' }, otherWorkspaceId);
      expect(elsewhere.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const anonymous = await upload(server, '', { bytes: png, name: 'a.png', type: 'image/png' });
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });
  });

  describe('sending files with a message', () => {
    it('attaches uploads in order; a retry with the same clientMessageId returns the first message without attaching twice', async () => {
      const a = await uploaded(server, ann.token, { bytes: png, name: 'a.png', type: 'image/png' });
      const b = await uploaded(server, ann.token, { bytes: jpeg, name: 'b.jpg', type: 'image/jpeg' });
      const input = { channelId: general, text: 'two pictures', clientMessageId: crypto.randomUUID(), attachmentIds: [b.id, a.id] };
      const { sendMessage: sent } = await ok(server, SendMessageWithAttachmentsDocument, { input }, ann.token);
      expect(sent.attachments.map((x) => x.id)).toEqual([b.id, a.id]);
      const { sendMessage: again } = await ok(server, SendMessageWithAttachmentsDocument, { input }, ann.token);
      expect(again.id).toBe(sent.id);
      expect(again.attachments.map((x) => x.id)).toEqual([b.id, a.id]);

      const { message } = await ok(server, MessageAttachmentsDocument, { id: sent.id }, bob.token);
      expect(message!.attachments.map((x) => [x.name, x.width, x.height])).toEqual([['b.jpg', 300, 900], ['a.png', 640, 480]]);

      // Sent once: another message cannot take it.
      await refused(server, 'CONFLICT', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'again', attachmentIds: [a.id] } }, ann.token);
    });

    it("refuses someone else's upload, one from another workspace, repeats and too many, changing nothing", async () => {
      const bobs = await uploaded(server, bob.token, { bytes: png, name: 'bob.png', type: 'image/png' });
      await refused(server, 'NOT_FOUND', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'mine?', attachmentIds: [bobs.id] } }, ann.token);
      const foreign = await uploaded(server, outsider.token, { bytes: png, name: 'o.png', type: 'image/png' }, otherWorkspaceId);
      await refused(server, 'NOT_FOUND', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'x', attachmentIds: [foreign.id] } }, ann.token);
      // Ann's own upload in her workspace, sent to the outsider's workspace: not there.
      const anns = await uploaded(server, ann.token, { bytes: png, name: 'ann.png', type: 'image/png' });
      const outsiderChannel = await channelWith(server, otherWorkspaceId, outsider);
      await refused(server, 'NOT_FOUND', SendMessageWithAttachmentsDocument, { input: { channelId: outsiderChannel, text: 'x', attachmentIds: [anns.id] } }, ann.token);
      await refused(server, 'BAD_USER_INPUT', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'x', attachmentIds: [anns.id, anns.id] } }, ann.token);
      await refused(server, 'BAD_USER_INPUT', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'x', attachmentIds: Array(11).fill(anns.id) } }, ann.token);
      // Nothing was sent: Ann's upload is still hers alone and unsent.
      const row = await server.app.runtime.prisma.attachment.findUniqueOrThrow({ where: { id: decodeId(anns.id).id } });
      expect(row.messageId).toBeNull();
      expect((await ok(server, AttachmentNodeDocument, { id: anns.id }, ann.token)).node).not.toBeNull();
      await refused(server, 'NOT_FOUND', AttachmentNodeDocument, { id: anns.id }, bob.token);
    });

    it('delivers the attachments with MESSAGE_ADDED to subscribers', async () => {
      const file = await uploaded(server, ann.token, { bytes: png, name: 'live.png', type: 'image/png' });
      const bobClient = connect(server, bob.token);
      const added = subscribe(bobClient, MessageAddedWithAttachmentsDocument, { channelId: general });
      const events = subscribe(bobClient, ChannelEventsWithAttachmentsDocument, { channelId: general });
      await waitForSubscribers(server, general, 2);
      const { sendMessage: sent } = await ok(server, SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'live', attachmentIds: [file.id] } }, ann.token);
      const viaAdded = await added.waitFor((e) => e.messageAdded.id === sent.id, 'messageAdded with the file', 10_000);
      expect(viaAdded.messageAdded.attachments).toMatchObject([{ id: file.id, name: 'live.png', contentType: 'image/png', width: 640, height: 480 }]);
      const viaEvents = await events.waitFor((e) => e.channelEvents.message?.id === sent.id, 'MESSAGE_ADDED with the file', 10_000);
      expect(viaEvents.channelEvents.type).toBe('MESSAGE_ADDED');
      expect(viaEvents.channelEvents.message!.attachments.map((x) => x.id)).toEqual([file.id]);
      const fromEvent = await fetchUrl(server, viaEvents.channelEvents.message!.attachments[0]!.url);
      expect((await bytesOf(fromEvent)).equals(png)).toBe(true);
    });
  });

  describe('the send statement', () => {
    it('attaches a file to one of several concurrent sends, never two', async () => {
      const rt = server.app.runtime;
      const viewer = await authenticate(rt, `Bearer ${ann.token}`);
      const file = await uploaded(server, ann.token, { bytes: png, name: 'race.png', type: 'image/png' });
      const attachmentId = decodeId(file.id).id;
      // All pass the early check together; the statement decides under lock.
      const outcomes = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => sendMessage(rt, viewer, { channelId: decodeId(general).id, text: `race ${i}`, attachmentIds: [attachmentId] })),
      );
      const sent = outcomes.filter((o) => o.status === 'fulfilled');
      expect(sent).toHaveLength(1);
      for (const o of outcomes.filter((o) => o.status === 'rejected')) {
        expect((o as PromiseRejectedResult).reason.extensions?.code).toBe('CONFLICT');
      }
      const row = await rt.prisma.attachment.findUniqueOrThrow({ where: { id: attachmentId } });
      expect(row.messageId).toBe((sent[0] as PromiseFulfilledResult<{ id: string }>).value.id);
    });

    it("refuses, in the statement itself, someone else's file and one without bytes, and attaches once within one batch", async () => {
      const rt = server.app.runtime;
      const channelId = decodeId(general).id;
      const bobs = await uploaded(server, bob.token, { bytes: png, name: 'b.png', type: 'image/png' });
      const { createUpload } = await ok(server, CreateUploadDocument, { input: { workspaceId, name: 'p.png', contentType: 'image/png', size: 10 } }, ann.token);
      const mine = await uploaded(server, ann.token, { bytes: png, name: 'm.png', type: 'image/png' });
      const authorId = decodeId(ann.id).id;
      const base = { channelId, authorId, clientMessageId: null, threadRootId: null, handles: [] };
      const clientMessageId = crypto.randomUUID();
      const outcomes = await Promise.all([
        rt.sends.submit({ ...base, text: 'not mine', attachmentIds: [decodeId(bobs.id).id] }),
        rt.sends.submit({ ...base, text: 'no bytes', attachmentIds: [decodeId(createUpload.attachment.id).id] }),
        rt.sends.submit({ ...base, text: 'mine', clientMessageId, attachmentIds: [decodeId(mine.id).id] }),
        rt.sends.submit({ ...base, text: 'mine', clientMessageId, attachmentIds: [decodeId(mine.id).id] }),
        rt.sends.submit({ ...base, text: 'mine again', attachmentIds: [decodeId(mine.id).id] }),
      ]);
      const statuses = outcomes.map((o) => o.status);
      expect(statuses.slice(0, 2)).toEqual(['bad_attachment', 'bad_attachment']);
      // Whichever claim ran first (batches may run side by side on Postgres) sent the file, once.
      const sent = outcomes.flatMap((o) => (o.status === 'sent' ? [o.message] : []));
      expect(sent).toHaveLength(1);
      const winner = statuses.indexOf('sent');
      expect(statuses.slice(2)).toEqual(
        winner === 4 ? ['bad_attachment', 'bad_attachment', 'sent'] : winner === 2 ? ['sent', 'duplicate', 'bad_attachment'] : ['duplicate', 'sent', 'bad_attachment'],
      );
      const row = await rt.prisma.attachment.findUniqueOrThrow({ where: { id: decodeId(mine.id).id } });
      expect(row.messageId).toBe(sent[0]!.id);
      expect(await rt.prisma.attachment.findUniqueOrThrow({ where: { id: decodeId(bobs.id).id } })).toMatchObject({ messageId: null });
    });

    it('loads the attachments of a page of messages in one query, whatever its size', async () => {
      const channel = await channelWith(server, workspaceId, ann, [bob]);
      for (let i = 0; i < 12; i++) {
        const file = await uploaded(server, ann.token, { bytes: png, name: `p${i}.png`, type: 'image/png' });
        await ok(server, SendMessageWithAttachmentsDocument, { input: { channelId: channel, text: `p${i}`, attachmentIds: [file.id] } }, ann.token);
      }
      const rt = server.app.runtime;
      const count = async (last: number) => {
        await rt.background.drained();
        const statements: string[] = [];
        const stop = rt.db.onQuery((sql) => statements.push(sql));
        try {
          const page = await ok(server, ChannelMessagesWithAttachmentsDocument, { id: channel, last }, bob.token);
          expect(page.channel!.messages.edges.every((e) => e.node.attachments.length === 1)).toBe(true);
        } finally {
          stop();
        }
        return statements.filter((sql) => /"Attachment"/.test(sql)).length;
      };
      expect(await count(2)).toBe(1);
      expect(await count(12)).toBe(1);
    });
  });

  describe('who may download', () => {
    it('shows files of a private channel to its members only, and to nobody in another workspace', async () => {
      const file = await uploaded(server, ann.token, { bytes: jpeg, name: 'plan.jpg', type: 'image/jpeg' });
      const { sendMessage: sent } = await ok(server, SendMessageWithAttachmentsDocument, { input: { channelId: secret, text: 'plan', attachmentIds: [file.id] } }, ann.token);
      expect((await ok(server, AttachmentNodeDocument, { id: file.id }, bob.token)).node).toMatchObject({ id: file.id, name: 'plan.jpg' });
      await refused(server, 'NOT_FOUND', AttachmentNodeDocument, { id: file.id }, cat.token);
      await refused(server, 'NOT_FOUND', AttachmentNodeDocument, { id: file.id }, outsider.token);
      await refused(server, 'NOT_FOUND', MessageAttachmentsDocument, { id: sent.id }, cat.token);
      await refused(server, 'NOT_FOUND', ChannelFilesDocument, { id: secret }, outsider.token);
    });

    it('refuses an expired or tampered URL', async () => {
      const file = await uploaded(server, ann.token, { bytes: png, name: 'x.png', type: 'image/png' });
      expect((await fetchUrl(server, file.url)).status).toBe(200);
      const tampered = new URL(file.url, server.url);
      tampered.searchParams.set('expires', String(Number(tampered.searchParams.get('expires')) + 3600));
      expect((await fetch(tampered)).status).toBe(403);
      const otherFile = new URL(file.url, server.url);
      otherFile.pathname = otherFile.pathname.replace(/[0-9a-f-]{36}$/, crypto.randomUUID());
      expect((await fetch(otherFile)).status).toBe(403);
      const thumbnailAsOriginal = new URL(file.thumbnailUrl!, server.url);
      thumbnailAsOriginal.searchParams.set('variant', 'original');
      expect((await fetch(thumbnailAsOriginal)).status).toBe(403);

      const row = await server.app.runtime.prisma.attachment.findUniqueOrThrow({ where: { id: decodeId(file.id).id } });
      const old = await downloadUrl(server.app.runtime, row, 'original', Date.now() - 2 * 3600_000);
      const expired = await fetchUrl(server, old!);
      expect(expired.status).toBe(403);
      expect(await expired.text()).toMatch(/expired/);
    });
  });

  describe('a channel\'s files', () => {
    it('lists them newest first as a keyset connection; a deleted message takes its files (and their URLs) away', async () => {
      const channel = await channelWith(server, workspaceId, ann, [bob]);
      const ids: string[] = [];
      const messages: string[] = [];
      for (let i = 0; i < 3; i++) {
        const file = await uploaded(server, ann.token, { bytes: png, name: `f${i}.png`, type: 'image/png' });
        const { sendMessage: sent } = await ok(server, SendMessageWithAttachmentsDocument, { input: { channelId: channel, text: `m${i}`, attachmentIds: [file.id] } }, ann.token);
        ids.push(file.id);
        messages.push(sent.id);
      }
      const first = await ok(server, ChannelFilesDocument, { id: channel, first: 2 }, bob.token);
      expect(first.channel!.files.edges.map((e) => e.node.id)).toEqual([ids[2], ids[1]]);
      expect(first.channel!.files.pageInfo.hasNextPage).toBe(true);
      const rest = await ok(server, ChannelFilesDocument, { id: channel, first: 2, after: first.channel!.files.pageInfo.endCursor }, bob.token);
      expect(rest.channel!.files.edges.map((e) => e.node.id)).toEqual([ids[0]]);
      expect(rest.channel!.files.pageInfo.hasNextPage).toBe(false);

      // Pages as every connection does: at most 100, and a cursor only of this list.
      await refused(server, 'BAD_USER_INPUT', ChannelFilesDocument, { id: channel, first: 101 }, bob.token);
      await refused(server, 'BAD_USER_INPUT', ChannelFilesDocument, { id: general, first: 2, after: first.channel!.files.pageInfo.endCursor }, bob.token);

      const url = first.channel!.files.edges[1]!.node.url;
      const key = (await server.app.runtime.prisma.attachment.findUniqueOrThrow({ where: { id: decodeId(ids[1]!).id } })).storageKey;
      expect((await fetchUrl(server, url)).status).toBe(200);
      await ok(server, DeleteMessageDocument, { messageId: messages[1]! }, ann.token);
      const after = await ok(server, ChannelFilesDocument, { id: channel }, bob.token);
      expect(after.channel!.files.edges.map((e) => e.node.id)).toEqual([ids[2], ids[0]]);
      expect((await ok(server, MessageAttachmentsDocument, { id: messages[1]! }, bob.token)).message!.attachments).toEqual([]);
      await refused(server, 'NOT_FOUND', AttachmentNodeDocument, { id: ids[1]! }, ann.token);
      expect((await fetchUrl(server, url)).status).toBe(404);
      // The bytes leave the store once the deletion has committed.
      await until(async () => (await server.app.runtime.files.size(key)) === null, 'the deleted file removed from the store');
    });
  });

  describe('two-step uploads to the local store', () => {
    it('PUTs the bytes to the signed upload URL, then sends the file', async () => {
      const { createUpload } = await ok(server, CreateUploadDocument, { input: { workspaceId, name: 'scan.jpg', contentType: 'image/jpeg', size: jpeg.byteLength } }, ann.token);
      expect(createUpload.uploadHeaders).toEqual({ 'Content-Type': 'image/jpeg' });
      // Not yet: the bytes have not arrived.
      await refused(server, 'CONFLICT', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'scan', attachmentIds: [createUpload.attachment.id] } }, ann.token);

      const tampered = new URL(createUpload.uploadUrl, server.url);
      tampered.searchParams.set('signature', `A${tampered.searchParams.get('signature')!.slice(1)}`);
      expect((await fetch(tampered, { method: 'PUT', headers: createUpload.uploadHeaders, body: bytes(jpeg) })).status).toBe(403);
      const wrongSize = await fetchUrl(server, createUpload.uploadUrl, { method: 'PUT', headers: createUpload.uploadHeaders, body: bytes(jpeg.subarray(1)) });
      expect(wrongSize.status).toBe(400);

      const put = await fetchUrl(server, createUpload.uploadUrl, { method: 'PUT', headers: createUpload.uploadHeaders, body: bytes(jpeg) });
      expect(put.status, await put.clone().text()).toBe(200);
      expect(await put.json()).toMatchObject({ attachment: { id: createUpload.attachment.id, contentType: 'image/jpeg', width: 300, height: 900 } });
      const twice = await fetchUrl(server, createUpload.uploadUrl, { method: 'PUT', headers: createUpload.uploadHeaders, body: bytes(jpeg) });
      expect(twice.status).toBe(409);

      const { sendMessage: sent } = await ok(server, SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'scan', attachmentIds: [createUpload.attachment.id] } }, ann.token);
      expect(sent.attachments[0]).toMatchObject({ name: 'scan.jpg', contentType: 'image/jpeg', size: jpeg.byteLength, width: 300, height: 900 });
      expect((await bytesOf(await fetchUrl(server, sent.attachments[0]!.url))).equals(jpeg)).toBe(true);
    });

    it('keeps the bytes and the measurements of the one PUT that wins when two race', async () => {
      const { createUpload } = await ok(server, CreateUploadDocument, { input: { workspaceId, name: 'race.bin', contentType: 'image/png', size: png.byteLength } }, ann.token);
      const noise = crypto.randomBytes(png.byteLength);
      const [a, b] = await Promise.all(
        [png, noise].map((body) => fetchUrl(server, createUpload.uploadUrl, { method: 'PUT', headers: createUpload.uploadHeaders, body: bytes(body) })),
      );
      expect([a!.status, b!.status].sort()).toEqual([200, 409]);
      const winner = a!.status === 200 ? png : noise;
      const { node } = await ok(server, AttachmentNodeDocument, { id: createUpload.attachment.id }, ann.token);
      expect(node).toMatchObject({ contentType: winner === png ? 'image/png' : 'application/octet-stream' });
      const served = await fetchUrl(server, (node as { url: string }).url);
      expect((await bytesOf(served)).equals(winner)).toBe(true);
    });

    it('refuses a declared size over the limit, and uploads by others than the uploader', async () => {
      await refused(server, 'BAD_USER_INPUT', CreateUploadDocument, { input: { workspaceId, name: 'huge.mp4', contentType: 'video/mp4', size: MAX_UPLOAD_BYTES + 1 } }, ann.token);
      await refused(server, 'BAD_USER_INPUT', CreateUploadDocument, { input: { workspaceId, name: 'a.bin', contentType: 'not a type', size: 10 } }, ann.token);
      await refused(server, 'NOT_FOUND', CreateUploadDocument, { input: { workspaceId, name: 'a.bin', contentType: 'application/pdf', size: 10 } }, outsider.token);
      const { createUpload } = await ok(server, CreateUploadDocument, { input: { workspaceId, name: 'b.png', contentType: 'image/png', size: png.byteLength } }, ann.token);
      await fetchUrl(server, createUpload.uploadUrl, { method: 'PUT', headers: createUpload.uploadHeaders, body: bytes(png) });
      await refused(server, 'NOT_FOUND', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'b', attachmentIds: [createUpload.attachment.id] } }, bob.token);
    });
  });

  describe('cleanup', () => {
    it('removes uploads never sent after a day, and keeps sent ones and recent ones', async () => {
      const rt = server.app.runtime;
      const unsent = await uploaded(server, cat.token, { bytes: png, name: 'forgotten.png', type: 'image/png' });
      const sentFile = await uploaded(server, cat.token, { bytes: png, name: 'kept.png', type: 'image/png' });
      await ok(server, SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'kept', attachmentIds: [sentFile.id] } }, cat.token);
      const unsentRow = await rt.prisma.attachment.findUniqueOrThrow({ where: { id: decodeId(unsent.id).id } });

      // Within a day nothing of Cat's goes.
      await cleanUpFiles(rt, new Date(unsentRow.createdAt.getTime() + UNATTACHED_TTL_MS - 60_000));
      expect(await rt.prisma.attachment.count({ where: { uploaderId: decodeId(cat.id).id } })).toBe(2);

      await cleanUpFiles(rt, new Date(unsentRow.createdAt.getTime() + UNATTACHED_TTL_MS + 60_000));
      expect(await rt.prisma.attachment.findUnique({ where: { id: unsentRow.id } })).toBeNull();
      expect(await rt.files.size(unsentRow.storageKey)).toBeNull();
      expect(await rt.files.size(unsentRow.thumbnailKey!)).toBeNull();
      expect((await fetchUrl(server, unsent.url)).status).toBe(404);
      await refused(server, 'NOT_FOUND', AttachmentNodeDocument, { id: unsent.id }, cat.token);
      expect((await ok(server, AttachmentNodeDocument, { id: sentFile.id }, cat.token)).node).not.toBeNull();
    });
  });
});

describe(`profile pictures (${backendName})`, () => {
  it('sets an own image upload as the avatar, shown to co-workers, kept by the cleanup, never sendable; refuses others', async () => {
    const picture = await uploaded(server, bob.token, { bytes: png, name: 'me.png', type: 'image/png' });
    const { updateProfile } = await ok(server, SetAvatarDocument, { attachmentId: picture.id }, bob.token);
    expect(updateProfile.avatar).toMatchObject({ id: picture.id, contentType: 'image/png', width: 640, height: 480 });
    // A co-worker sees it, and its URL serves the image.
    const seen = await ok(server, UserAvatarDocument, { id: bob.id }, ann.token);
    const avatar = seen.node && 'avatar' in seen.node ? seen.node.avatar : null;
    expect(avatar?.id).toBe(picture.id);
    const response = await fetchUrl(server, avatar!.url);
    expect(response.status).toBe(200);
    expect((await bytesOf(response)).equals(png)).toBe(true);
    // Never sent, yet in use: the cleanup of unsent uploads keeps it.
    const row = await server.app.runtime.prisma.attachment.findUniqueOrThrow({ where: { id: decodeId(picture.id).id } });
    await cleanUpFiles(server.app.runtime, new Date(row.createdAt.getTime() + UNATTACHED_TTL_MS + 60_000));
    expect(await server.app.runtime.prisma.attachment.count({ where: { id: row.id } })).toBe(1);
    // It cannot also go out with a message (deleting that message would take the picture away).
    await refused(server, 'CONFLICT', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'me', attachmentIds: [picture.id] } }, bob.token);
    // Someone else's upload, or a file that is not an image: refused, and the picture stays.
    const annsPicture = await uploaded(server, ann.token, { bytes: jpeg, name: 'ann.jpg', type: 'image/jpeg' });
    await refused(server, 'NOT_FOUND', SetAvatarDocument, { attachmentId: annsPicture.id }, bob.token);
    const text = await uploaded(server, bob.token, { bytes: Buffer.from('not a picture'), name: 'me.png', type: 'image/png' });
    await refused(server, 'BAD_USER_INPUT', SetAvatarDocument, { attachmentId: text.id }, bob.token);
    await refused(server, 'NOT_FOUND', SetAvatarDocument, { attachmentId: general }, bob.token);
    expect((await ok(server, UserAvatarDocument, { id: bob.id }, bob.token)).node).toMatchObject({ avatar: { id: picture.id } });
    // null removes it.
    expect((await ok(server, SetAvatarDocument, { attachmentId: null }, bob.token)).updateProfile.avatar).toBeNull();
  });
});

describe('attachment configuration', () => {
  it('defaults to 25 MiB on local disk, reads the S3 variables, and refuses incomplete ones at start', () => {
    expect(loadConfig({}).attachments).toEqual({ maxUploadBytes: 26_214_400, s3: undefined });
    expect(
      loadConfig({ MAX_UPLOAD_BYTES: '1048576', S3_BUCKET: 'files', S3_ENDPOINT: 'http://minio:9000/', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's', S3_FORCE_PATH_STYLE: 'true' }).attachments,
    ).toEqual({
      maxUploadBytes: 1_048_576,
      s3: { bucket: 'files', endpoint: 'http://minio:9000', region: 'us-east-1', accessKeyId: 'k', secretAccessKey: 's', forcePathStyle: true },
    });
    expect(() => loadConfig({ S3_ENDPOINT: 'http://minio:9000' })).toThrow(/S3_BUCKET/);
    expect(() => loadConfig({ S3_BUCKET: 'files', S3_ACCESS_KEY_ID: 'k' })).toThrow(/set both or neither/);
    expect(() => loadConfig({ MAX_UPLOAD_BYTES: 'lots' })).toThrow(ConfigError);
    expect(() => loadConfig({ S3_BUCKET: 'Not A Bucket' })).toThrow(/S3_BUCKET/);
  });
});

describe(`attachments in an S3-compatible store (s3rver behind a SigV4 check; ${backendName})`, () => {
  let s3: TestS3;
  let s3Server: TestServer;

  beforeAll(async () => {
    s3 = await startS3();
    s3Server = await startServer({
      attachments: {
        maxUploadBytes: MAX_UPLOAD_BYTES,
        s3: { endpoint: s3.endpoint, bucket: s3.bucket, region: S3_REGION, accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY, forcePathStyle: true },
      },
    });
  }, 30_000);

  afterAll(async () => {
    await s3Server?.stop();
    await s3?.close();
  });

  it('refuses a request signed with the wrong secret (the check the tests rely on)', async () => {
    const { S3Store } = await import('../src/storage/s3.ts');
    const wrong = new S3Store({ endpoint: s3.endpoint, bucket: s3.bucket, region: S3_REGION, accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: 'not-the-secret', forcePathStyle: true });
    await expect(wrong.size('anything')).rejects.toThrow();
    expect(s3.refused.at(-1)).toMatch(/signature does not match/);
    await wrong.close();
  });

  it('uploads through GraphQL and through a presigned PUT, and serves presigned GETs', async () => {
    const direct = await uploaded(s3Server, ann.token, { bytes: png, name: 'direct.png', type: 'image/png' });
    expect(direct).toMatchObject({ contentType: 'image/png', width: 640, height: 480 });
    expect(new URL(direct.url).origin).toBe(s3.endpoint);
    const viaS3 = await fetch(direct.url);
    expect(viaS3.status).toBe(200);
    expect(viaS3.headers.get('content-type')).toBe('image/png');
    expect((await bytesOf(viaS3)).equals(png)).toBe(true);
    expect((await fetch(direct.thumbnailUrl!)).headers.get('content-type')).toBe('image/webp');

    const { createUpload } = await ok(s3Server, CreateUploadDocument, { input: { workspaceId, name: 'photo.txt', contentType: 'text/plain', size: jpeg.byteLength } }, ann.token);
    expect(new URL(createUpload.uploadUrl).origin).toBe(s3.endpoint);
    // A body of another size than the one signed is refused.
    const short = await fetch(createUpload.uploadUrl, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: bytes(jpeg.subarray(1)) });
    expect(short.status).toBe(403);
    const put = await fetch(createUpload.uploadUrl, { method: 'PUT', headers: createUpload.uploadHeaders, body: bytes(jpeg) });
    expect(put.status, await put.clone().text()).toBe(200);

    const { sendMessage: sent } = await ok(s3Server, SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 's3', attachmentIds: [direct.id, createUpload.attachment.id] } }, ann.token);
    // Sniffed from the bytes in the bucket once the send needed them.
    expect(sent.attachments[1]).toMatchObject({ name: 'photo.txt', contentType: 'image/jpeg', width: 300, height: 900, size: jpeg.byteLength });
    const downloaded = await fetch(sent.attachments[1]!.url);
    expect(downloaded.headers.get('content-type')).toBe('image/jpeg');
    expect((await bytesOf(downloaded)).equals(jpeg)).toBe(true);

    const tampered = new URL(sent.attachments[1]!.url);
    tampered.searchParams.set('response-content-type', 'text/html');
    expect((await fetch(tampered)).status).toBe(403);

    const key = (await s3Server.app.runtime.prisma.attachment.findUniqueOrThrow({ where: { id: decodeId(direct.id).id } })).storageKey;
    expect(s3.exists(key)).toBe(true);
    await ok(s3Server, DeleteMessageDocument, { messageId: sent.id }, ann.token);
    await until(() => !s3.exists(key), 'the deleted message\'s file removed from the bucket');
    expect((await fetch(sent.attachments[0]!.url)).status).toBe(404);
  });

  it('refuses to send a two-step upload whose bytes never reached the bucket', async () => {
    const { createUpload } = await ok(s3Server, CreateUploadDocument, { input: { workspaceId, name: 'late.png', contentType: 'image/png', size: png.byteLength } }, ann.token);
    await refused(s3Server, 'CONFLICT', SendMessageWithAttachmentsDocument, { input: { channelId: general, text: 'late', attachmentIds: [createUpload.attachment.id] } }, ann.token);
  });
});
