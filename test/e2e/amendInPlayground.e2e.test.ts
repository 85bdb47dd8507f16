import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_PLAYGROUND_CONFIG, startPlayground, type RunningPlayground } from '../../local/playground';
import { freePort } from '../support/freePort';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';
import { openPlaygroundUi, type PlaygroundUi } from '../support/playgroundBrowser';
import { BOT_TO_PLAYGROUND, createPlaygroundDriver, type PlaygroundDriver, type RecordedCall } from '../support/playgroundDriver';

const teams = DEFAULT_PLAYGROUND_CONFIG;
const ALEX = teams.currentUser;
const PERSONAL_CHAT = teams.personalChat.id;
/** The proof: the Playground showing the edited card. test-results/ is for run artifacts. */
const SCREENSHOT = resolve(__dirname, '../../test-results/playground-edited-card.png');

const FIRST_TITLE = 'Server maintenance tonight at 22:00';
const EDITED_TITLE = 'Server maintenance moved to Saturday 08:00';
const WHAT_HAPPENED = 'Expect about 30 minutes without the intranet.';
/** What the Playground (0.2.28, the latest) logs when a bot deletes a message: it has no delete. */
const NO_DELETE_WARNING = 'The API to delete activity is not implemented yet in Microsoft 365 Agents Playground.';

interface Row {
  status: string;
  activityId?: string;
  conversationId?: string;
  version?: number;
  editFailure?: { reason: string; detail: string };
  recallFailure?: { reason: string; detail: string };
}
interface Status {
  status: string;
  counts: Record<string, number>;
  edits?: { version: number; delivered: Record<string, number>; failed: number };
  recipients: Row[];
}

/**
 * Send, edit, recall through the real pipeline and the Agents Playground, checked twice: what the
 * Playground's mock Bot Connector received (its events recording), and what its web UI shows in
 * headless Chromium, as a user would see it.
 */
describe('edit and recall in the Agents Playground, as its web UI shows them', () => {
  let pipeline: TestPipeline;
  let playground: RunningPlayground;
  let driver: PlaygroundDriver;
  let ui: PlaygroundUi | undefined;
  let workDir: string;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    pipeline.startWorker();
    workDir = mkdtempSync(join(tmpdir(), 'teams-notify-amend-ui-'));
    playground = await startPlayground({ port: await freePort(), botEndpoint: `${pipeline.host.url}/api/messages`, cwd: workDir, startTimeoutMs: 60_000 });
    driver = createPlaygroundDriver(playground);
  }, 120_000);
  afterAll(async () => {
    await ui?.close();
    await playground?.stop();
    await pipeline?.stop();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  }, 60_000);

  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    return pipeline.api(path, { method, ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  }
  const until = <T>(id: string, what: string, check: (s: Status) => T | undefined): Promise<T> =>
    eventually(async () => check((await (await pipeline.api(`/api/notifications/${id}`)).json()) as Status), 90_000, `${what} (${id})`);

  /** The bot's calls on one message at the Playground's connector (`PUT`, `DELETE` .../activities/{id}). */
  async function connectorCalls(method: string, activityId: string): Promise<RecordedCall[]> {
    const path = `/_connector/v3/conversations/${PERSONAL_CHAT}/activities/${activityId}`;
    return (await driver.recordedCalls()).filter(
      (c) => c.direction === BOT_TO_PLAYGROUND && c.request.method?.toUpperCase() === method && decodeURIComponent(c.request.url.split('?')[0] ?? '') === path,
    );
  }

  it('shows the card, then the edited card in its place; the recall reaches the connector, which cannot delete', async () => {
    await driver.install(PERSONAL_CHAT);
    await eventually(async () => pipeline.services.conversations.findUser({ type: 'user', aadObjectId: ALEX.aadObjectId }), 30_000, 'Alex known to the bot');

    // Send.
    const sent = await call('POST', '/api/notifications', {
      recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }],
      message: { template: 'notification', data: { title: FIRST_TITLE, whatHappened: WHAT_HAPPENED } },
    });
    expect(sent.status).toBe(202);
    const { id } = (await sent.json()) as { id: string };
    const delivered = await until(id, 'delivered', (s) => (s.status === 'completed' ? s.recipients[0] : undefined));
    expect(delivered).toMatchObject({ status: 'delivered', conversationId: PERSONAL_CHAT, version: 1 });
    const activityId = delivered.activityId ?? '';
    expect(activityId).not.toBe('');

    ui = await openPlaygroundUi(playground.url, { timeoutMs: 90_000 });
    await ui.waitForText(FIRST_TITLE);
    const card = ui.message(WHAT_HAPPENED);
    await expect(card.count()).resolves.toBe(1);
    await expect(card.getByRole('heading', { name: FIRST_TITLE, exact: true }).isVisible()).resolves.toBe(true);
    const shown = await ui.messages.count(); // the welcome card and ours

    // Edit: a new title, put in place.
    const edited = await call('PATCH', `/api/notifications/${id}`, {
      message: { template: 'notification', data: { title: EDITED_TITLE, whatHappened: WHAT_HAPPENED } },
    });
    expect(edited.status).toBe(202);
    const v2 = await until(id, 'version 2 in Teams', (s) => (s.recipients[0]?.version === 2 ? s : undefined));
    expect(v2.edits).toMatchObject({ version: 2, delivered: { '2': 1 }, failed: 0 });
    expect(v2.recipients[0]?.editFailure).toBeUndefined();

    const puts = await connectorCalls('PUT', activityId);
    expect(puts).toHaveLength(1);
    expect(puts[0]?.response.statusCode).toBe(200);
    expect(JSON.stringify(puts[0]?.request.body)).toContain(EDITED_TITLE);
    expect(JSON.stringify(puts[0]?.request.body)).not.toContain(FIRST_TITLE);

    await ui.waitForText(EDITED_TITLE);
    await ui.waitForNoText(FIRST_TITLE);
    await expect(card.getByRole('heading', { name: EDITED_TITLE, exact: true }).isVisible()).resolves.toBe(true);
    await expect(card.count()).resolves.toBe(1); // in place: no second message
    await expect(ui.messages.count()).resolves.toBe(shown);
    await ui.screenshot(SCREENSHOT);

    // Recall.
    const recalled = await call('POST', `/api/notifications/${id}/recall`);
    expect(recalled.status).toBe(202);
    const after = await until(id, 'the recall pass', (s) => {
      const row = s.recipients[0];
      return s.status === 'recalled' && (row?.status === 'recalled' || row?.recallFailure !== undefined) ? s : undefined;
    });
    const deletes = await connectorCalls('DELETE', activityId);
    expect(deletes).toHaveLength(1);

    // The Playground has no delete (0.2.28, the latest): it answers 501 and keeps the message, so
    // the status says the delete failed, and why, rather than `recalled`. Teams deletes it (the
    // fake connector's recall test covers that path).
    expect(deletes[0]?.response).toMatchObject({ statusCode: 501, body: { error: { code: 'DeleteActivityAPINotImplemented' } } });
    expect(after.counts).toMatchObject({ delivered: 1, recalled: 0 });
    expect(after.recipients[0]).toMatchObject({ status: 'delivered', version: 2, recallFailure: { reason: 'rejected', detail: expect.stringContaining('501 DeleteActivityAPINotImplemented') } });

    // What the UI shows after the recall: its log panel warns, and the edited card stays as it was.
    await ui.page.getByText(NO_DELETE_WARNING).waitFor({ state: 'visible' });
    await ui.waitForText(EDITED_TITLE);
    await expect(card.count()).resolves.toBe(1);
    await expect(ui.messages.count()).resolves.toBe(shown);
  }, 420_000);
});
