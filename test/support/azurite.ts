import { randomBytes } from 'node:crypto';

/** The Azurite that the global setup started; fails loudly if a suite runs without it. */
export function storageConnectionString(): string {
  const value = process.env.TEST_STORAGE_CONNECTION_STRING;
  if (value === undefined || value === '') throw new Error('Azurite is not running: run the tests with `npm test` (jest globalSetup starts it)');
  return value;
}

/** A table-name prefix / queue suffix unique to one suite, so suites never see each other's data. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}
