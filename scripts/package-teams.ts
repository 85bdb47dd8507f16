/**
 * `npm run package:teams`: writes build/appPackage.zip, the Teams app package (manifest.json and the
 * two icons) with the deployment's values filled in.
 *
 *   az deployment group show -g <rg> -n main --query properties.outputs -o json > build/deployment-outputs.json
 *   npm run package:teams -- --outputs build/deployment-outputs.json
 *
 * or with values from the environment (or flags): BOT_ID / --bot-id, BOT_DOMAIN / --domain.
 * Optional: TEAMS_APP_ID (default: the bot id), APP_VERSION (default: package.json version),
 * APP_NAME (default: the app's own default, so the manifest and the bot say the same name),
 * DEVELOPER_NAME, DEVELOPER_WEBSITE_URL, PRIVACY_URL, TERMS_OF_USE_URL
 * (URLs default to https://<BOT_DOMAIN>/; set real ones before publishing beyond your org).
 */
import AdmZip from 'adm-zip';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_APP_NAME } from '../shared/config';

const ROOT = resolve(__dirname, '..');
export const APP_PACKAGE_DIR = join(ROOT, 'appPackage');
export const DEFAULT_OUT = join(ROOT, 'build', 'appPackage.zip');

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOST = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const PLACEHOLDER = /\$\{\{([A-Z0-9_]+)\}\}/g;

export interface PackageValues {
  BOT_ID: string;
  BOT_DOMAIN: string;
  TEAMS_APP_ID: string;
  APP_VERSION: string;
  /** The manifest's short name: the same APP_NAME the app puts in welcomes, help and cards. */
  APP_NAME: string;
  DEVELOPER_NAME: string;
  DEVELOPER_WEBSITE_URL: string;
  PRIVACY_URL: string;
  TERMS_OF_USE_URL: string;
}

export type PackageInputs = Partial<PackageValues>;

/** Reads the outputs of `az deployment group show --query properties.outputs` (or the whole deployment). */
export function inputsFromDeploymentOutputs(json: unknown): PackageInputs {
  let outputs = json as Record<string, unknown>;
  const nested = (outputs?.properties as { outputs?: unknown } | undefined)?.outputs;
  if (nested) outputs = nested as Record<string, unknown>;
  const value = (name: string): string | undefined => {
    const entry = outputs?.[name] as { value?: unknown } | undefined;
    return typeof entry?.value === 'string' ? entry.value : undefined;
  };
  const inputs: PackageInputs = {};
  const botId = value('botId');
  const domain = value('functionHostName');
  // Deployments made before the rename to APP_NAME have the output `appDisplayName`.
  const appName = value('appName') ?? value('appDisplayName');
  if (botId) inputs.BOT_ID = botId;
  if (domain) inputs.BOT_DOMAIN = domain;
  if (appName) inputs.APP_NAME = appName;
  return inputs;
}

/** Fills the defaults and checks every value; throws with the first problem. */
export function resolveValues(inputs: PackageInputs): PackageValues {
  const botId = inputs.BOT_ID?.trim();
  if (!botId || !GUID.test(botId)) {
    throw new Error(`BOT_ID must be the bot's app id (a GUID: the botId output of the deployment); got ${JSON.stringify(inputs.BOT_ID ?? '')}`);
  }
  const domain = inputs.BOT_DOMAIN?.trim().replace(/^https:\/\//, '').replace(/\/.*$/, '');
  if (!domain || !HOST.test(domain)) {
    throw new Error(`BOT_DOMAIN must be the Function App host name (functionHostName output); got ${JSON.stringify(inputs.BOT_DOMAIN ?? '')}`);
  }
  const packageVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const values: PackageValues = {
    BOT_ID: botId.toLowerCase(),
    BOT_DOMAIN: domain.toLowerCase(),
    TEAMS_APP_ID: (inputs.TEAMS_APP_ID?.trim() || botId).toLowerCase(),
    APP_VERSION: inputs.APP_VERSION?.trim() || packageVersion,
    APP_NAME: inputs.APP_NAME?.trim() || DEFAULT_APP_NAME,
    DEVELOPER_NAME: inputs.DEVELOPER_NAME?.trim() || 'teams-notify',
    DEVELOPER_WEBSITE_URL: inputs.DEVELOPER_WEBSITE_URL?.trim() || `https://${domain}/`,
    PRIVACY_URL: inputs.PRIVACY_URL?.trim() || `https://${domain}/`,
    TERMS_OF_USE_URL: inputs.TERMS_OF_USE_URL?.trim() || `https://${domain}/`,
  };
  if (!GUID.test(values.TEAMS_APP_ID)) throw new Error(`TEAMS_APP_ID must be a GUID; got ${JSON.stringify(values.TEAMS_APP_ID)}`);
  if (!/^\d+\.\d+\.\d+$/.test(values.APP_VERSION)) throw new Error(`APP_VERSION must be MAJOR.MINOR.PATCH; got ${JSON.stringify(values.APP_VERSION)}`);
  if (values.APP_NAME.length > 30) throw new Error('APP_NAME is the manifest short name: at most 30 characters');
  for (const key of ['DEVELOPER_WEBSITE_URL', 'PRIVACY_URL', 'TERMS_OF_USE_URL'] as const) {
    if (!values[key].startsWith('https://')) throw new Error(`${key} must be an https URL; got ${JSON.stringify(values[key])}`);
  }
  return values;
}

/** The manifest text with every ${{NAME}} replaced; throws if one has no value. */
export function renderManifest(template: string, values: PackageValues): string {
  const missing = new Set<string>();
  const text = template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = (values as unknown as Record<string, string | undefined>)[name];
    if (value === undefined) {
      missing.add(name);
      return '';
    }
    // Values land inside JSON strings.
    return JSON.stringify(value).slice(1, -1);
  });
  if (missing.size > 0) throw new Error(`manifest placeholders without a value: ${[...missing].join(', ')}`);
  JSON.parse(text);
  return text;
}

/** Builds the zip (manifest.json, color.png, outline.png at its root) and returns the manifest. */
export function buildTeamsPackage(inputs: PackageInputs, outFile: string = DEFAULT_OUT): { outFile: string; manifest: Record<string, unknown> } {
  const values = resolveValues(inputs);
  const manifestText = renderManifest(readFileSync(join(APP_PACKAGE_DIR, 'manifest.json'), 'utf8'), values);
  const manifest = JSON.parse(manifestText) as Record<string, unknown>;
  const icons = manifest.icons as { color: string; outline: string };
  const zip = new AdmZip();
  zip.addFile('manifest.json', Buffer.from(manifestText, 'utf8'));
  zip.addFile(icons.color, readFileSync(join(APP_PACKAGE_DIR, icons.color)));
  zip.addFile(icons.outline, readFileSync(join(APP_PACKAGE_DIR, icons.outline)));
  mkdirSync(dirname(outFile), { recursive: true });
  zip.writeZip(outFile);
  return { outFile, manifest };
}

function parseArgs(argv: readonly string[]): { inputs: PackageInputs; out: string } {
  const env = process.env;
  const inputs: PackageInputs = {};
  for (const key of [
    'BOT_ID', 'BOT_DOMAIN', 'TEAMS_APP_ID', 'APP_VERSION', 'APP_NAME',
    'DEVELOPER_NAME', 'DEVELOPER_WEBSITE_URL', 'PRIVACY_URL', 'TERMS_OF_USE_URL',
  ] as const) {
    if (env[key]) inputs[key] = env[key];
  }
  let out = DEFAULT_OUT;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = (): string => {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${flag} needs a value`);
      return value;
    };
    if (flag === '--outputs') Object.assign(inputs, inputsFromDeploymentOutputs(JSON.parse(readFileSync(next(), 'utf8'))));
    else if (flag === '--bot-id') inputs.BOT_ID = next();
    else if (flag === '--domain') inputs.BOT_DOMAIN = next();
    else if (flag === '--out') out = resolve(next());
    else throw new Error(`unknown argument ${flag} (use --outputs FILE, --bot-id ID, --domain HOST, --out FILE)`);
  }
  return { inputs, out };
}

if (require.main === module) {
  try {
    const { inputs, out } = parseArgs(process.argv.slice(2));
    const { outFile, manifest } = buildTeamsPackage(inputs, out);
    const bot = (manifest.bots as { botId: string }[])[0];
    console.log(`wrote ${outFile} (app id ${String(manifest.id)}, bot id ${bot?.botId}, domains ${JSON.stringify(manifest.validDomains)})`);
  } catch (error) {
    console.error(`package:teams: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
