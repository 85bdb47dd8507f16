import { resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startFunctionHost } from '../../local/functionHost';
import { silentLogger } from '../../shared/logger';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';
import { findChromium } from '../support/playgroundBrowser';

/** The proof, committed: the page during a send. */
// Written where test output goes (git-ignored); docs/status-page.png is a copy of one such run.
const SCREENSHOT = resolve(__dirname, '../../test-results/status-page.png');
const TENANT = 'status-page-tenant';
const BOT = 'bot-1';
const PEOPLE = 12;

/*
 * The status page in headless Chromium during a real local send: local host, Azurite queue
 * trigger, the fake Bot Connector, a tenant paced at 1 message a second (so the send takes ~12 s),
 * and one recipient nobody installed the app for (`not-installed`).
 */
describe('the status page during a send', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;
  let browser: Browser;

  beforeAll(async () => {
    connector = await startFakeConnector();
    pipeline = await startTestPipeline({ env: { SEND_RATE_PER_SECOND: '1' } });
    pipeline.startWorker();
    for (let i = 1; i <= PEOPLE; i++) {
      await pipeline.services.conversations.saveUser({ serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: BOT, userId: `29:person-${i}`, personalConversationId: `a:person-${i}`, installed: true, hasPersonalApp: true, updatedAt: new Date().toISOString() });
    }
    // --no-sandbox: CI runs as root, where Chromium refuses to start with its sandbox.
    browser = await chromium.launch({ executablePath: findChromium(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await pipeline?.stop();
    await connector?.close();
  }, 60_000);

  it('shows the progress moving on its own, and the failed recipient with its reason', async () => {
    const recipients = [...Array.from({ length: PEOPLE }, (_, i) => ({ type: 'user', userId: `29:person-${i + 1}` })), { type: 'user', userId: '29:nobody-installed' }];
    const res = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients, message: { template: 'notification', data: { title: 'Deploy of <billing-api> 4.2 finished', whatHappened: 'All regions are on 4.2.' } } }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const response = await page.goto(`${pipeline.host.url}/api/ui?code=${encodeURIComponent(pipeline.functionKey)}&id=${id}`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toMatch(/script-src 'nonce-/);
    expect(response?.headers()['cache-control']).toBe('no-store');
    // The title is user input: shown as text.
    await expect(page.locator('#detail-h').textContent()).resolves.toBe('Deploy of <billing-api> 4.2 finished');

    const delivered = page.locator('#detail [data-count="delivered"]');
    const first = Number(await delivered.textContent());
    expect(first).toBeLessThan(PEOPLE);
    // A mark on the window: gone if the page were reloaded.
    await page.evaluate(() => ((globalThis as unknown as { mark: number }).mark = 1));
    // Read from here, not waitForFunction: the page's CSP (rightly) refuses a string to evaluate.
    const second = await eventually(async () => {
      const now = Number(await delivered.textContent());
      return now > first ? now : undefined;
    }, 30_000, 'the delivered count to rise on the page');
    expect(second).toBeGreaterThan(first);
    expect(await page.evaluate(() => (globalThis as unknown as { mark?: number }).mark)).toBe(1);
    // The bar follows the count (one read of the section: it may be swapped between two reads).
    const section = await page.locator('#detail').innerHTML();
    const shown = /data-count="delivered">(\d+)</.exec(section)?.[1];
    expect(shown).toBeDefined();
    expect(section).toContain(`aria-label="${shown ?? ''} delivered,`);

    // The unknown user fails with its reason, grouped and in the recipients table.
    await page.locator('#reasons', { hasText: 'not-installed' }).waitFor({ timeout: 30_000 });
    await expect(page.locator('#recipients tr', { hasText: '29:nobody-installed' }).locator('[data-field="reason"]').textContent()).resolves.toBe('not-installed');
    // Not opened with the admin key: the page says what the dead letters need.
    await expect(page.locator('#deadletters-body').textContent()).resolves.toContain('admin key');

    mkdirSync(resolve(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // It ends on its own too, and then stops refreshing.
    await page.locator('#content[data-running="false"]').waitFor({ timeout: 60_000 });
    await expect(page.locator('#detail [data-count="delivered"]').textContent()).resolves.toBe(String(PEOPLE));
    const final = await eventually(async () => {
      const s = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as { status: string; counts: { delivered: number; failed: number } };
      return s.status === 'completed' ? s : undefined;
    }, 10_000, 'completed');
    expect(final.counts).toMatchObject({ delivered: PEOPLE, failed: 1 });
    await page.close();
  }, 120_000);

  it('opened with the admin key, lists the dead letters (their text as text) and redrives one from its button', async () => {
    const adminKey = `admin-${pipeline.functionKey}`;
    const adminHost = await startFunctionHost({ port: 0, functionKey: pipeline.functionKey, adminKey, log: silentLogger });
    const page = await browser.newPage();
    try {
      await pipeline.queue.deadLetter({ body: '{"not":"a job"}', reason: 'invalid-job', description: '<img src=x> not a job' });
      await page.goto(`${adminHost.url}/api/ui?code=${encodeURIComponent(adminKey)}`);
      const letter = page.locator('#deadletters-body tr', { hasText: 'invalid-job' });
      await letter.waitFor({ timeout: 15_000 });
      expect(await letter.textContent()).toContain('invalid-job: <img src=x> not a job');
      expect(await page.locator('#deadletters-body img').count()).toBe(0);
      // A poison body has nothing to send: the redrive is refused, and the button says why.
      await letter.getByRole('button', { name: 'Redrive' }).click();
      await letter.locator('button', { hasText: 'not a notification job' }).waitFor({ timeout: 15_000 });
    } finally {
      await page.close();
      await adminHost.close();
    }
  }, 60_000);
});
