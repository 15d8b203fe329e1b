// Screenshots of the web chat for the README (docs/web-chat*.png): starts a
// Parley on a fresh embedded database, has three people talk through the SDK,
// and photographs Ann's window in Chromium. `npm run screenshots`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import {
  AddReactionDocument,
  CreateChannelDocument,
  CreateWorkspaceDocument,
  CreateWorkspaceInviteDocument,
  InboxDocument,
  JoinChannelDocument,
  JoinWorkspaceDocument,
  SetTypingDocument,
  SignUpDocument,
} from '../client/generated/graphql.ts';
import { createParleyClient, type ParleyClient } from '../client/sdk/index.ts';
import { createParley } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

const docs = path.resolve(import.meta.dirname, '../docs');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-screenshots-'));
const app = createParley({ ...loadConfig({ PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMITS: 'off' }) });
await app.start();
const url = app.url;
const clients: ParleyClient[] = [];

async function person(name: string, handle: string) {
  const client = createParleyClient({ url, webSocketImpl: WebSocket });
  clients.push(client);
  const { signUp } = await client.mutate(SignUpDocument, { input: { name, handle, email: `${handle}@example.com`, password: 'correct horse battery' } });
  client.setToken(signUp.token);
  return { client, token: signUp.token, id: signUp.user.id };
}

try {
  const ann = await person('Ann Lovelace', 'ann');
  const bob = await person('Bob Hopper', 'bob');
  const cleo = await person('Cleo Turing', 'cleo');
  const { createWorkspace: acme } = await ann.client.mutate(CreateWorkspaceDocument, { input: { name: 'Acme', slug: 'acme' } });
  const { createWorkspaceInvite } = await ann.client.mutate(CreateWorkspaceInviteDocument, { workspaceId: acme.id });
  for (const p of [bob, cleo]) await p.client.mutate(JoinWorkspaceDocument, { code: createWorkspaceInvite.code });
  const channel = async (name: string) => {
    const { createChannel } = await ann.client.mutate(CreateChannelDocument, { input: { workspaceId: acme.id, name, private: false } });
    for (const p of [bob, cleo]) await p.client.mutate(JoinChannelDocument, { channelId: createChannel.id });
    return createChannel.id;
  };
  const general = await channel('general');
  const design = await channel('design');
  await channel('random');

  const say = (p: { client: ParleyClient }, channelId: string, text: string, threadRootId?: string) =>
    p.client.sendMessage({ channelId, text, ...(threadRootId ? { threadRootId } : {}) });
  await say(ann, general, 'Morning all! The new release goes out at 3pm today.');
  const plan = await say(bob, general, 'Great. I will watch the dashboards during the rollout.');
  await say(cleo, general, 'The migration ran on staging in 40 s, no locks held for more than a few ms.');
  const question = await say(bob, general, 'Should we announce the web chat in the release notes?');
  await say(cleo, general, 'Yes, with a screenshot. I can write it.', question.id);
  await say(ann, general, 'Yes please, thanks Cleo!', question.id);
  await say(ann, general, 'Ship it 🚀');
  await bob.client.mutate(AddReactionDocument, { messageId: plan.id, emoji: '👍' });
  await cleo.client.mutate(AddReactionDocument, { messageId: plan.id, emoji: '👍' });
  await ann.client.mutate(AddReactionDocument, { messageId: question.id, emoji: '🎉' });
  await say(cleo, design, 'New icons are in Figma.');
  await say(bob, design, 'Looking now.');

  // Bob is online (his socket is open) and typing; Cleo is away.
  const stopBob = bob.client.subscribe(InboxDocument, {}, { next: () => {} });
  await cleo.client.dispose();

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 }, deviceScaleFactor: 1 });
    await page.goto(new URL('/', url).toString());
    await page.evaluate((token) => localStorage.setItem('parley.token', token), ann.token);
    await page.goto(new URL(`/w/${encodeURIComponent(acme.id)}/${encodeURIComponent(general)}`, url).toString());
    await page.getByText('Ship it 🚀').waitFor();
    await page.getByRole('button', { name: /Bob Hopper \(@bob\), online/ }).waitFor();
    await page.getByRole('button', { name: '#design, 2 unread' }).waitFor();
    await bob.client.mutate(SetTypingDocument, { channelId: general });
    await page.getByText('bob is typing…').waitFor();
    await page.screenshot({ path: path.join(docs, 'web-chat.png') });

    await page.getByRole('button', { name: '2 replies' }).click();
    await page.getByRole('complementary', { name: 'Thread' }).getByText('Yes please, thanks Cleo!').waitFor();
    await page.getByRole('textbox', { name: 'Reply in thread' }).fill('Draft is in the doc.');
    await page.mouse.move(600, 600);
    await page.screenshot({ path: path.join(docs, 'web-chat-thread.png') });
    console.log(`wrote ${path.join(docs, 'web-chat.png')} and web-chat-thread.png`);
  } finally {
    stopBob();
    await browser.close();
  }
} finally {
  await Promise.all(clients.map((c) => c.dispose()));
  await app.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
