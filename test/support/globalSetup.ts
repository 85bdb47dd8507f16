import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type RunningAzurite } from '../../local/azurite';
import { freePort } from './freePort';

declare global {
  var __AZURITE__: RunningAzurite | undefined;
}

/** One Azurite for the whole run, on free ports, with its data in a fresh temp folder. */
export default async function globalSetup(): Promise<void> {
  const ports = { blob: await freePort(), queue: await freePort(), table: await freePort() };
  const azurite = await startAzurite({ ports, location: mkdtempSync(join(tmpdir(), 'teams-notify-azurite-')) });
  globalThis.__AZURITE__ = azurite;
  process.env.TEST_STORAGE_CONNECTION_STRING = azurite.connectionString;
}
