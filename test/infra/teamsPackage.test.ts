/** `npm run package:teams` (scripts/package-teams.ts): the zip Teams accepts, with the deployment's values. */
import AdmZip from 'adm-zip';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { APP_PACKAGE_DIR, buildTeamsPackage, inputsFromDeploymentOutputs, resolveValues } from '../../scripts/package-teams';
import { DEFAULT_APP_NAME, SETTINGS, loadConfig } from '../../shared/config';
import { mainTemplate, moduleParam, parameterName } from './arm';

const BOT_ID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const DOMAIN = 'func-notify-dev-abc.azurewebsites.net';

interface Manifest {
  $schema: string;
  manifestVersion: string;
  version: string;
  id: string;
  developer: Record<string, string>;
  name: { short: string; full: string };
  description: { short: string; full: string };
  bots: { botId: string; scopes: string[]; isNotificationOnly: boolean; commandLists: { scopes: string[]; commands: { title: string; description: string }[] }[] }[];
  validDomains: string[];
  permissions: string[];
  webApplicationInfo: { id: string; resource?: string };
  authorization?: { permissions: { resourceSpecific: { name: string; type: 'Application' | 'Delegated' }[] } };
}

interface Png {
  width: number;
  height: number;
  colorType: number;
  /** RGBA pixels (only for 8-bit RGBA images). */
  pixels: Buffer;
}

/** Minimal PNG reader: IHDR + IDAT, 8-bit RGBA, all five row filters. */
function readPng(data: Buffer): Png {
  expect(data.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let offset = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  while (offset < data.length) {
    const length = data.readUInt32BE(offset);
    const type = data.toString('latin1', offset + 4, offset + 8);
    const body = data.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      expect(body[8]).toBe(8);
      colorType = body[9] as number;
    } else if (type === 'IDAT') idat.push(body);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = 4;
  const stride = width * bpp;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    for (let x = 0; x < stride; x++) {
      const cur = raw[y * (stride + 1) + 1 + x] as number;
      const a = x >= bpp ? (pixels[y * stride + x - bpp] as number) : 0;
      const b = y > 0 ? (pixels[(y - 1) * stride + x] as number) : 0;
      const c = x >= bpp && y > 0 ? (pixels[(y - 1) * stride + x - bpp] as number) : 0;
      const paeth = () => {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      };
      const predictor = [0, a, b, (a + b) >> 1, paeth()][filter] as number;
      pixels[y * stride + x] = (cur + predictor) & 0xff;
    }
  }
  return { width, height, colorType, pixels };
}

describe('Teams app package', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'teams-notify-package-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function build() {
    const out = join(dir, 'appPackage.zip');
    buildTeamsPackage({ BOT_ID, BOT_DOMAIN: DOMAIN }, out);
    const zip = new AdmZip(out);
    const names = zip.getEntries().map((e) => e.entryName).sort();
    const manifest = JSON.parse(zip.readAsText('manifest.json')) as Manifest;
    return { zip, names, manifest };
  }

  it('holds manifest.json and the two icons at the root of the zip', () => {
    expect(build().names).toEqual(['color.png', 'manifest.json', 'outline.png']);
  });

  it('fills the bot id and domain in, and leaves no placeholder', () => {
    const { zip, manifest } = build();
    expect(zip.readAsText('manifest.json')).not.toMatch(/\$\{\{/);
    expect(manifest.bots[0]?.botId).toBe(BOT_ID);
    expect(manifest.id).toBe(BOT_ID);
    expect(manifest.validDomains).toEqual([DOMAIN]);
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+$/);
    // Graph's "Self" install permissions (TeamsAppInstallation.ReadWriteSelfFor*.All) only see the
    // app whose webApplicationInfo.id is the caller's app id: the bot's identity. RSC permissions
    // (below) need webApplicationInfo too; its resource does nothing for RSC (no SSO here) but Teams
    // answers with an error without one, so it is a URI on the app's own domain.
    expect(manifest.webApplicationInfo).toEqual({ id: BOT_ID, resource: `api://${DOMAIN}/${BOT_ID}` });
  });

  it('asks for read receipts: the resource-specific permission ChatMessageReadReceipt.Read.Chat, and nothing more', () => {
    const { manifest } = build();
    // Teams sends a bot the read-receipt event (application/vnd.microsoft.readReceipt) of a personal
    // chat only with this permission, declared as an Application RSC permission (manifest v1.12+ shape).
    expect(manifest.authorization).toEqual({
      permissions: { resourceSpecific: [{ name: 'ChatMessageReadReceipt.Read.Chat', type: 'Application' }] },
    });
    // The v1.12+ form, not the pre-1.12 webApplicationInfo.applicationPermissions.
    expect(manifest.webApplicationInfo).not.toHaveProperty('applicationPermissions');
    // The older top-level device permissions stay as they were.
    expect(manifest.permissions).toEqual(['identity', 'messageTeamMembers']);
  });

  it('declares a bot in personal, team and groupChat scopes on a current manifest schema', () => {
    const { manifest } = build();
    const version = Number(/^1\.(\d+)$/.exec(manifest.manifestVersion)?.[1]);
    const bot = manifest.bots[0]!;
    expect(version).toBeGreaterThanOrEqual(22);
    expect(manifest.$schema).toBe(`https://developer.microsoft.com/json-schemas/teams/v${manifest.manifestVersion}/MicrosoftTeams.schema.json`);
    expect(manifest.bots).toHaveLength(1);
    expect([...bot.scopes].sort()).toEqual(['groupChat', 'personal', 'team']);
    expect(bot.isNotificationOnly).toBe(false);
    // One command list per scope (as the schema asks), each with the same three commands.
    expect(bot.commandLists.flatMap((l) => l.scopes).sort()).toEqual(['groupChat', 'personal', 'team']);
    for (const list of bot.commandLists) expect(list.commands.map((c) => c.title).sort()).toEqual(['help', 'start', 'stop']);
    // stop means something else where many people share the conversation, and the list says so.
    const stop = (scope: string) => bot.commandLists.find((l) => l.scopes.includes(scope))?.commands.find((c) => c.title === 'stop')?.description;
    expect(stop('personal')).toMatch(/you/);
    expect(stop('team')).toMatch(/everyone/);
    expect(stop('groupChat')).toBe(stop('team'));
    expect(manifest.name.short.length).toBeLessThanOrEqual(30);
    expect(manifest.description.short.length).toBeLessThanOrEqual(80);
    for (const url of ['websiteUrl', 'privacyUrl', 'termsOfUseUrl']) expect(manifest.developer[url]).toMatch(/^https:\/\//);
  });

  it('ships a 192x192 colour icon and a 32x32 white-on-transparent outline icon', () => {
    const color = readPng(readFileSync(join(APP_PACKAGE_DIR, 'color.png')));
    expect([color.width, color.height]).toEqual([192, 192]);
    const outline = readPng(readFileSync(join(APP_PACKAGE_DIR, 'outline.png')));
    expect([outline.width, outline.height, outline.colorType]).toEqual([32, 32, 6]);
    let transparent = 0;
    for (let i = 0; i < outline.pixels.length; i += 4) {
      const [r, g, b, a] = [outline.pixels[i], outline.pixels[i + 1], outline.pixels[i + 2], outline.pixels[i + 3]];
      if (a === 0) transparent++;
      else expect([r, g, b]).toEqual([255, 255, 255]);
    }
    expect(transparent).toBeGreaterThan(0);
  });

  it('reads the bot id, host name and app name from `az deployment group show` outputs', () => {
    const outputs = { botId: { type: 'String', value: BOT_ID }, functionHostName: { type: 'String', value: DOMAIN }, appName: { type: 'String', value: 'Alerts' } };
    expect(inputsFromDeploymentOutputs(outputs)).toEqual({ BOT_ID, BOT_DOMAIN: DOMAIN, APP_NAME: 'Alerts' });
    expect(inputsFromDeploymentOutputs({ properties: { outputs } })).toEqual({ BOT_ID, BOT_DOMAIN: DOMAIN, APP_NAME: 'Alerts' });
    // A deployment made before the rename still names the app, as appDisplayName.
    const older = { botId: outputs.botId, functionHostName: outputs.functionHostName, appDisplayName: { type: 'String', value: 'Old Alerts' } };
    expect(inputsFromDeploymentOutputs(older)).toEqual({ BOT_ID, BOT_DOMAIN: DOMAIN, APP_NAME: 'Old Alerts' });
  });

  it('names the app APP_NAME in the manifest, by default the name the app itself uses', () => {
    expect(build().manifest.name.short).toBe(DEFAULT_APP_NAME);
    expect(loadConfig({ STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' }).appName).toBe(DEFAULT_APP_NAME);
    const out = join(dir, 'named.zip');
    const { manifest } = buildTeamsPackage({ BOT_ID, BOT_DOMAIN: DOMAIN, APP_NAME: 'Contoso Alerts' }, out);
    expect(manifest.name).toEqual({ short: 'Contoso Alerts', full: expect.stringMatching(/^Contoso Alerts: /) as unknown });
    expect(() => resolveValues({ BOT_ID, BOT_DOMAIN: DOMAIN, APP_NAME: 'x'.repeat(31) })).toThrow(/APP_NAME/);
  });

  it('gives the bot and the app setting the same name, defaulting to the app\'s own default', () => {
    const template = mainTemplate();
    expect(template.parameters?.appName?.defaultValue).toBe(DEFAULT_APP_NAME);
    const appSettings = moduleParam('functionApp', 'appSettings') as Record<string, unknown>;
    expect(parameterName(appSettings[SETTINGS.appName])).toBe('appName');
    expect(parameterName(moduleParam('bot', 'displayName'))).toBe('appName');
    expect(template.outputs?.appName?.value).toBe("[parameters('appName')]");
  });

  it('refuses a missing or malformed bot id or domain', () => {
    expect(() => resolveValues({ BOT_DOMAIN: DOMAIN })).toThrow(/BOT_ID/);
    expect(() => resolveValues({ BOT_ID: 'not-a-guid', BOT_DOMAIN: DOMAIN })).toThrow(/BOT_ID/);
    expect(() => resolveValues({ BOT_ID })).toThrow(/BOT_DOMAIN/);
    expect(resolveValues({ BOT_ID, BOT_DOMAIN: `https://${DOMAIN}/` }).BOT_DOMAIN).toBe(DOMAIN);
  });
});
