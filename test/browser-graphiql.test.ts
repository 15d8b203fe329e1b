import type { Browser, BrowserContext, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, skipWithoutChromium } from './support/browser.ts';
import { backendName, startServer, waitForSubscribers, type TestServer } from './support/server.ts';

// The README's "A walk through GraphiQL", done in Chromium the way a reader
// does it: paste each snippet into the editor, fill in the ids the previous
// answers showed, run it, read the answer.

const WAIT = { timeout: 60_000, interval: 200 };
const STEPS = 360_000;

let server: TestServer;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  server = await startServer();
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  // Pasting is what the walk asks for ("paste the token").
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(server.url).origin });
});

/** One GraphiQL page (a browser window). */
class GraphiQL {
  private constructor(readonly page: Page) {}

  /** Opens GraphiQL in a new window of `browserContext` (the same browser unless told otherwise). */
  static async open(browserContext: BrowserContext = context): Promise<GraphiQL> {
    const page = await browserContext.newPage();
    await page.goto(server.url);
    const graphiql = new GraphiQL(page);
    await graphiql.lines('Operation Editor').waitFor(WAIT);
    return graphiql;
  }

  editor(name: 'Operation Editor' | 'Headers' | 'Result Window') {
    return this.page.locator(`section[aria-label="${name}"]`);
  }

  /** Where to click to put the cursor in an editor (the Headers section also holds the hidden Variables editor). */
  private lines(name: 'Operation Editor' | 'Headers' | 'Result Window') {
    return this.editor(name).locator(name === 'Result Window' ? '.view-lines' : '.graphiql-editor:not(.hidden) .view-lines');
  }

  /** Replaces an editor's whole content by pasting, as a reader does with a snippet. */
  async paste(name: 'Operation Editor' | 'Headers', text: string): Promise<void> {
    await this.page.evaluate((value) => navigator.clipboard.writeText(value), text);
    await this.lines(name).click();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.press('ControlOrMeta+V');
    await expect.poll(() => this.text(name), WAIT).toBe(text.trim());
  }

  /**
   * What an editor holds, copied as a reader copies it (select all, copy):
   * Monaco wraps long lines on screen, so its rendered lines are not the text.
   */
  async text(name: 'Operation Editor' | 'Headers' | 'Result Window'): Promise<string> {
    await this.lines(name).click();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.evaluate(() => navigator.clipboard.writeText(''));
    await this.page.keyboard.press('ControlOrMeta+C');
    return (await this.page.evaluate(() => navigator.clipboard.readText())).trim();
  }

  /** Clicks the run button and waits for an answer that is not the previous one. */
  async run(): Promise<Record<string, any>> {
    const before = await this.text('Result Window');
    await this.page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();

    let answer: Record<string, any> | undefined;
    await expect
      .poll(async () => {
        const text = await this.text('Result Window');
        if (!text || text === before) return false;
        try {
          answer = JSON.parse(text) as Record<string, any>;
          return true;
        } catch {
          return false; // still rendering
        }
      }, WAIT)
      .toBe(true);
    return answer!;
  }

  /** Pastes a snippet and runs it; the answer must have no errors. */
  async runSnippet(snippet: string): Promise<Record<string, any>> {
    await this.paste('Operation Editor', snippet);
    const answer = await this.run();
    expect(answer['errors'], JSON.stringify(answer)).toBeUndefined();
    return answer['data'] as Record<string, any>;
  }
}

describe.skipIf(skipWithoutChromium)(`the README's GraphiQL walk in Chromium (${backendName})`, () => {
  it('signs up, authorizes the tab from its Headers pane, creates a workspace and a channel, and receives a message from a second window on subscriptions in this window and in a private one', async () => {
    const first = await GraphiQL.open();

    // A new tab starts with this in Headers (README).
    expect(JSON.parse(await first.text('Headers'))).toEqual({ Authorization: 'Bearer <paste the token from signUp or logIn here>' });

    // 1. Sign up and copy the token.
    const { signUp } = await first.runSnippet(`mutation {
  signUp(input: { email: "ada@example.com", password: "correct horse battery", name: "Ada", handle: "ada" }) {
    token
    user { id handle }
  }
}`);
    const token = signUp.token as string;
    expect(signUp.user.handle).toBe('ada');

    // 2. Paste it into Headers; check with me.
    await first.paste('Headers', `{"Authorization": "Bearer ${token}"}`);
    const { me } = await first.runSnippet('query { me { id handle } }');
    expect(me).toEqual({ id: signUp.user.id, handle: 'ada' });

    // 3. A workspace and an invite code.
    const { createWorkspace } = await first.runSnippet('mutation { createWorkspace(input: { name: "Acme", slug: "acme" }) { id } }');
    const workspaceId = createWorkspace.id as string;
    const { createWorkspaceInvite } = await first.runSnippet(`mutation { createWorkspaceInvite(workspaceId: "${workspaceId}") { code } }`);
    expect(createWorkspaceInvite.code).toEqual(expect.any(String));

    // 4. A channel.
    const { createChannel } = await first.runSnippet(`mutation {
  createChannel(input: { workspaceId: "${workspaceId}", name: "general", private: false }) { id name }
}`);
    const channelId = createChannel.id as string;
    expect(createChannel.name).toBe('general');

    // 5. Subscribe in this window; GraphiQL sends the Headers pane with it.
    await first.paste('Operation Editor', `subscription { messageAdded(channelId: "${channelId}") { id text author { handle } createdAt } }`);
    const resultBefore = await first.text('Result Window');
    await first.page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
    // The subscription reached the server (over WebSocket, authorized by the Headers pane).
    await waitForSubscribers(server, channelId);

    // The same subscription from a private window (another browser profile): its Headers start
    // from the template, and the token pasted there is all that authorizes it.
    const privateContext = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await privateContext.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(server.url).origin });
    const privateWindow = await GraphiQL.open(privateContext);
    expect(JSON.parse(await privateWindow.text('Headers'))).toEqual({ Authorization: 'Bearer <paste the token from signUp or logIn here>' });
    await privateWindow.paste('Headers', `{"Authorization": "Bearer ${token}"}`);
    await privateWindow.paste('Operation Editor', `subscription { messageAdded(channelId: "${channelId}") { id text author { handle } createdAt } }`);
    const privateBefore = await privateWindow.text('Result Window');
    await privateWindow.page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
    await waitForSubscribers(server, channelId, 2);

    // 6. A second window of the same browser opens with the first one's Headers (GraphiQL keeps
    // them in local storage), token included; send a message from it.
    const second = await GraphiQL.open();
    expect(JSON.parse(await second.text('Headers'))).toEqual({ Authorization: `Bearer ${token}` });
    const { sendMessage } = await second.runSnippet(`mutation {
  sendMessage(input: { channelId: "${channelId}", text: "Hello, Parley", clientMessageId: "m-1" }) { id text }
}`);
    expect(sendMessage.text).toBe('Hello, Parley');

    // ...and it arrives in the first window.
    await expect
      .poll(async () => {
        const text = await first.text('Result Window');
        return text !== resultBefore && text.includes('Hello, Parley') ? JSON.parse(text) : null;
      }, WAIT)
      .toEqual({ data: { messageAdded: { id: sendMessage.id, text: 'Hello, Parley', author: { handle: 'ada' }, createdAt: expect.any(String) } } });

    await expect
      .poll(async () => {
        const text = await privateWindow.text('Result Window');
        return text !== privateBefore && text.includes('Hello, Parley') ? JSON.parse(text) : null;
      }, WAIT)
      .toEqual({ data: { messageAdded: { id: sendMessage.id, text: 'Hello, Parley', author: { handle: 'ada' }, createdAt: expect.any(String) } } });
    await privateContext.close();

    // 7. History from the newest message back.
    const { channel } = await second.runSnippet(`query {
  channel(id: "${channelId}") {
    messages(last: 50) {
      edges { cursor node { text author { handle } } }
      pageInfo { hasPreviousPage startCursor }
    }
  }
}`);
    expect(channel.messages.edges.map((e: { node: { text: string } }) => e.node.text)).toEqual(['Hello, Parley']);
    expect(channel.messages.pageInfo.hasPreviousPage).toBe(false);
  }, STEPS);
});

