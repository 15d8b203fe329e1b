import crypto from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuilt, launchBrowser, skipWithoutChromium } from './support/browser.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';

// The machine is shared and slow: generous, condition-based waits everywhere.
const WAIT = { timeout: 30_000, interval: 100 };
const STEPS = 240_000;

let server: TestServer;
let origin: string;
let browser: Browser;

interface Person {
  context: BrowserContext;
  page: Page;
  handle: string;
}

const texts = (page: Page) => page.getByRole('log', { name: 'Messages' }).locator('li.message .text').allTextContents();

async function signUp(name: string): Promise<Person> {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (process.env.DEBUG_BROWSER) page.on('console', (m) => console.log(`[${name}] ${m.text()}`));
  const handle = `${name.toLowerCase()}-${crypto.randomBytes(3).toString('hex')}`;
  await page.goto(origin);
  await page.getByRole('tab', { name: 'Sign up' }).click();
  const form = page.getByRole('form', { name: 'Sign up' });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Handle').fill(handle);
  await form.getByLabel('Email').fill(`${handle}@example.com`);
  await form.getByLabel('Password').fill('correct horse battery');
  await form.getByRole('button', { name: 'Create account' }).click();
  return { context, page, handle };
}

async function send(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: /^Message #/ });
  await box.fill(text);
  await box.press('Enter');
}

beforeAll(async () => {
  await ensureWebBuilt();
  server = await startServer();
  origin = new URL('/', server.url).toString();
  browser = await launchBrowser();
});

describe.skipIf(skipWithoutChromium)(`the web chat in a real browser (${backendName})`, () => {
  let ann: Person;
  let bob: Person;

  it('signs up two people who meet in a workspace by invite and talk in #general', async () => {
    ann = await signUp('Ann');
    await ann.page.getByRole('form', { name: 'Create a workspace' }).getByLabel('Name').fill('Acme');
    await ann.page.getByLabel('Address').fill(`acme-${crypto.randomBytes(3).toString('hex')}`);
    await ann.page.getByRole('button', { name: 'Create workspace' }).click();
    await ann.page.getByRole('heading', { name: '#general' }).waitFor(WAIT);
    // The token is kept: a reload stays signed in, in the same channel.
    await ann.page.reload();
    await ann.page.getByRole('heading', { name: '#general' }).waitFor(WAIT);

    await ann.page.getByRole('button', { name: 'Invite people' }).click();
    const code = (await ann.page.getByLabel('Invite code').textContent({ timeout: WAIT.timeout }))!.trim();

    bob = await signUp('Bob');
    await bob.page.getByRole('form', { name: 'Join a workspace' }).getByLabel('Invite code').fill(code);
    await bob.page.getByRole('button', { name: 'Join workspace' }).click();
    await bob.page.getByRole('heading', { name: '#general' }).waitFor(WAIT);
    const join = bob.page.getByRole('button', { name: 'Join channel' });
    if (await join.isVisible()) await join.click();
    await bob.page.getByRole('textbox', { name: 'Message #general' }).waitFor(WAIT);

    await send(ann.page, 'Hello Bob');
    await expect.poll(() => texts(bob.page), WAIT).toEqual(['Hello Bob']);
    await send(bob.page, 'Hi Ann');
    await expect.poll(() => texts(ann.page), WAIT).toEqual(['Hello Bob', 'Hi Ann']);
    // Ann sees Bob come online in the People list.
    await ann.page.getByRole('button', { name: new RegExp(`@${bob.handle}\\), online`) }).waitFor(WAIT);
  }, STEPS);

  it('shows someone typing, reactions, edits, deletes and thread replies live on the other side', async () => {
    // Bob keeps typing (the server announces someone's typing at most every 3 s) until Ann sees it.
    const bobBox = bob.page.getByRole('textbox', { name: 'Message #general' });
    const annSeesTyping = ann.page.getByText(`${bob.handle} is typing…`);
    await expect
      .poll(async () => {
        await bobBox.pressSequentially('typing ', { delay: 30 });
        return annSeesTyping.isVisible();
      }, WAIT)
      .toBe(true);
    await bobBox.fill('');

    const annFirst = ann.page.getByRole('listitem', { name: `Message from ${ann.handle}` }).first();
    await annFirst.hover();
    await annFirst.getByRole('button', { name: 'Edit message' }).click();
    await annFirst.getByRole('textbox', { name: 'Message text' }).fill('Hello Bob (edited)');
    await annFirst.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => texts(bob.page), WAIT).toEqual(['Hello Bob (edited)', 'Hi Ann']);
    await bob.page.getByText('(edited)', { exact: true }).waitFor(WAIT);

    const bobSeesAnn = bob.page.getByRole('listitem', { name: `Message from ${ann.handle}` }).first();
    await bobSeesAnn.hover();
    await bobSeesAnn.getByRole('button', { name: 'React 🎉' }).click();
    await ann.page.getByRole('button', { name: '🎉 1' }).waitFor(WAIT);
    await expect.poll(() => bob.page.getByRole('button', { name: '🎉 1' }).getAttribute('aria-pressed'), WAIT).toBe('true');

    await bobSeesAnn.getByRole('button', { name: 'Reply in thread' }).click();
    const thread = bob.page.getByRole('complementary', { name: 'Thread' });
    const reply = thread.getByRole('textbox', { name: 'Reply in thread' });
    await reply.fill('A reply in the thread');
    await reply.press('Enter');
    await ann.page.getByRole('button', { name: '1 reply' }).click(WAIT);
    await ann.page.getByRole('complementary', { name: 'Thread' }).getByText('A reply in the thread').waitFor(WAIT);
    // Replies stay out of the channel's own list.
    expect(await texts(ann.page)).toEqual(['Hello Bob (edited)', 'Hi Ann']);

    const bobOwn = bob.page.getByRole('log', { name: 'Messages' }).getByRole('listitem', { name: `Message from ${bob.handle}` });
    await bobOwn.hover();
    await bobOwn.getByRole('button', { name: 'Delete message' }).click();
    await expect.poll(() => texts(ann.page), WAIT).toEqual(['Hello Bob (edited)', 'This message was deleted.']);
  }, STEPS);

  it('counts unread messages in the sidebar of someone looking at another channel', async () => {
    await ann.page.getByRole('button', { name: 'New channel' }).click();
    await ann.page.getByLabel('Channel name').fill('random');
    await ann.page.getByLabel('Channel name').press('Enter');
    await ann.page.getByRole('heading', { name: '#random' }).waitFor(WAIT);
    await send(bob.page, 'Unread one');
    await send(bob.page, 'Unread two');
    await ann.page.getByRole('button', { name: '#general, 2 unread' }).waitFor(WAIT);
    await ann.page.getByRole('button', { name: '#general, 2 unread' }).click();
    await expect.poll(() => texts(ann.page), WAIT).toEqual(['Hello Bob (edited)', 'This message was deleted.', 'Unread one', 'Unread two']);
    await ann.page.getByRole('button', { name: '#random', exact: true }).waitFor(WAIT);
  }, STEPS);

  it('after a dropped network shows every message exactly once, in order, and delivers a message sent while offline once', async () => {
    const before = await texts(bob.page);
    await bob.context.setOffline(true);
    await bob.page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor(WAIT);

    const whileAway = Array.from({ length: 6 }, (_, i) => `While you were away ${i + 1}`);
    for (const text of whileAway) await send(ann.page, text);
    await expect.poll(() => texts(ann.page), WAIT).toEqual([...before, ...whileAway]);
    // Really cut off: none of them reached Bob.
    expect(await texts(bob.page)).toEqual(before);

    // Sent while offline: shown at once as pending.
    await send(bob.page, 'Sent while offline');
    await bob.page.getByRole('listitem', { name: `Message from ${bob.handle}, sending` }).waitFor(WAIT);

    await bob.context.setOffline(false);
    await expect.poll(() => texts(bob.page), { timeout: 60_000, interval: 200 }).toEqual([...before, ...whileAway, 'Sent while offline']);
    await bob.page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor({ state: 'detached', timeout: WAIT.timeout });
    await expect.poll(() => texts(ann.page), WAIT).toEqual([...before, ...whileAway, 'Sent while offline']);
    await expect.poll(() => bob.page.locator('li.message.pending').count(), WAIT).toBe(0);

    // Nothing arrives late as a second copy, and a reload shows the same history.
    await bob.page.reload();
    await expect.poll(() => texts(bob.page), WAIT).toEqual([...before, ...whileAway, 'Sent while offline']);
  }, STEPS);
});
