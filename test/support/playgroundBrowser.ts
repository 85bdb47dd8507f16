/**
 * The Agents Playground's web UI (0.2.28) in headless Chromium: playwright-core driving the
 * system's Chromium (no browser download), to check what a user would see in the chat.
 *
 * The UI's DOM has no landmark around the message list; each message starts with an element
 * labelled "Message header" (author and time), followed by its body (an Adaptive Card renders its
 * title TextBlock as `role=heading`). The log panel on the right is plain text.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { chromium, type Locator, type Page } from 'playwright-core';

const INSTALL_HINT =
  "Install Debian's Chromium (`apt-get install -y chromium`; .ci/run does so when run as root) or set CHROMIUM_PATH to a Chromium or Chrome executable.";

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `CHROMIUM_PATH`, else /usr/bin/chromium, else `chromium` on PATH. Throws, never skips, when there is none. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.CHROMIUM_PATH?.trim();
  if (configured) {
    if (isExecutable(configured)) return configured;
    throw new Error(`CHROMIUM_PATH is "${configured}", which is not an executable file. ${INSTALL_HINT}`);
  }
  if (isExecutable('/usr/bin/chromium')) return '/usr/bin/chromium';
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'chromium'))) return join(dir, 'chromium');
  }
  throw new Error(`No Chromium for the Playground web UI test (looked at CHROMIUM_PATH, /usr/bin/chromium and PATH). ${INSTALL_HINT}`);
}

export interface PlaygroundUi {
  readonly page: Page;
  /** Every message of the open chat (header and body); not the chat list, not the log panel. */
  readonly messages: Locator;
  /** The messages of the open chat whose text contains `text`. */
  message(text: string): Locator;
  /** Waits until a message of the open chat shows `text`. */
  waitForText(text: string, timeoutMs?: number): Promise<void>;
  /** Waits until no message of the open chat contains `text`. */
  waitForNoText(text: string, timeoutMs?: number): Promise<void>;
  /** PNG of the page at `path` (its folder is created). */
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the Playground's web UI at `url` (RunningPlayground.url) in headless Chromium. Opening it
 * installs the app in the personal chat, which is the chat it shows.
 */
export async function openPlaygroundUi(url: string, options: { timeoutMs?: number } = {}): Promise<PlaygroundUi> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  // --no-sandbox: CI runs as root, where Chromium refuses to start with its sandbox.
  const browser = await chromium.launch({
    executablePath: findChromium(),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: timeoutMs,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(timeoutMs);
    await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
    const messages = page.getByLabel('Message header', { exact: true }).locator('..');
    const message = (text: string): Locator => messages.filter({ hasText: text });
    return {
      page,
      messages,
      message,
      waitForText: (text, limitMs = timeoutMs) => message(text).first().waitFor({ state: 'visible', timeout: limitMs }),
      waitForNoText: (text, limitMs = timeoutMs) => message(text).first().waitFor({ state: 'detached', timeout: limitMs }),
      async screenshot(path) {
        mkdirSync(dirname(path), { recursive: true });
        await page.screenshot({ path, fullPage: true });
      },
      close: () => browser.close(),
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}
