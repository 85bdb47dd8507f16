/**
 * Microsoft Graph in the template: the GRAPH_* / AUDIENCE_GUARD / TEAMS_APP_CATALOG_ID settings come
 * from parameters with the app's defaults, the graphPermissions output lists what the parameters
 * need, and scripts/grant-graph-permissions.sh (which grants them: no template can) knows exactly
 * those permissions. The script itself runs here against a stand-in `az` that answers from fixtures.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_GRAPH_ENDPOINT, SETTINGS, loadConfig } from '../../shared/config';
import { ROOT, evaluate, mainTemplate, moduleParam, referencesIdentity } from './arm';

const SCRIPT = join(ROOT, 'scripts', 'grant-graph-permissions.sh');

/** Least privileged application permissions for the calls shared/graph/httpGraph.ts makes. */
const AUDIENCE_PERMISSIONS = ['GroupMember.Read.All', 'User.Read.All'];
const INSTALL_PERMISSIONS = [
  'TeamsAppInstallation.ReadWriteSelfForUser.All',
  'TeamsAppInstallation.ReadWriteSelfForTeam.All',
  'Channel.ReadBasic.All',
];

function appSettings(): Record<string, unknown> {
  return moduleParam('functionApp', 'appSettings') as Record<string, unknown>;
}

function parameter(name: string) {
  const p = mainTemplate().parameters?.[name];
  if (!p) throw new Error(`main.bicep has no parameter ${name}`);
  return p;
}

const output = (name: string) => {
  const o = mainTemplate().outputs?.[name];
  if (!o) throw new Error(`main.bicep has no output ${name}`);
  return o;
};

describe('Microsoft Graph settings', () => {
  it('sets GRAPH_ENDPOINT, GRAPH_RATE_PER_SECOND, AUDIENCE_GUARD and TEAMS_APP_CATALOG_ID from parameters, with the app\'s defaults', () => {
    const s = appSettings();
    expect(s[SETTINGS.graphEndpoint]).toBe("[parameters('graphEndpoint')]");
    expect(s[SETTINGS.teamsAppCatalogId]).toBe("[parameters('teamsAppCatalogId')]");
    expect(s[SETTINGS.graphRatePerSecond]).toBe("[string(parameters('graphRatePerSecond'))]");
    expect(s[SETTINGS.audienceGuard]).toBe("[string(parameters('audienceGuard'))]");

    expect(parameter('graphEndpoint')).toMatchObject({ type: 'string', defaultValue: DEFAULT_GRAPH_ENDPOINT });
    expect(parameter('teamsAppCatalogId')).toMatchObject({ type: 'string', defaultValue: '' });
    expect(parameter('graphRatePerSecond')).toMatchObject({ type: 'int', defaultValue: 10 });
    expect(parameter('audienceGuard')).toMatchObject({ type: 'int', defaultValue: 10_000 });
    expect(parameter('graphProactiveInstall')).toMatchObject({ type: 'bool', defaultValue: false });

    // The template's defaults are the app's own (an unset setting means the same thing).
    const unset = loadConfig({ [SETTINGS.storageConnectionString]: 'UseDevelopmentStorage=true' });
    const defaults = loadConfig({
      [SETTINGS.storageConnectionString]: 'UseDevelopmentStorage=true',
      ...(evaluate({
        [SETTINGS.graphEndpoint]: s[SETTINGS.graphEndpoint],
        [SETTINGS.graphProactiveInstall]: s[SETTINGS.graphProactiveInstall],
        [SETTINGS.teamsAppCatalogId]: s[SETTINGS.teamsAppCatalogId],
        [SETTINGS.graphRatePerSecond]: s[SETTINGS.graphRatePerSecond],
        [SETTINGS.audienceGuard]: s[SETTINGS.audienceGuard],
      }) as Record<string, string>),
    });
    for (const key of ['graphEndpoint', 'graphProactiveInstall', 'teamsAppCatalogId', 'graphRatePerSecond', 'audienceGuard'] as const) {
      expect([key, defaults[key]]).toEqual([key, unset[key]]);
    }
  });

  it('writes GRAPH_PROACTIVE_INSTALL as the lower-case true/false the app reads (ARM\'s string() of a bool is True/False)', () => {
    const value = appSettings()[SETTINGS.graphProactiveInstall];
    expect(evaluate(value, { graphProactiveInstall: true })).toBe('true');
    expect(evaluate(value, { graphProactiveInstall: false })).toBe('false');
    expect(evaluate(value)).toBe('false');
    expect(evaluate("[string(parameters('graphProactiveInstall'))]", { graphProactiveInstall: true })).toBe('True');
  });

  it('gives the app a configuration it accepts with proactive install on, and passes the catalog id through', () => {
    const s = appSettings();
    const params = { graphProactiveInstall: true, teamsAppCatalogId: 'c0ffee00-1111-2222-3333-444455556666', audienceGuard: 500 };
    const env = evaluate(
      Object.fromEntries(
        [SETTINGS.graphEndpoint, SETTINGS.graphProactiveInstall, SETTINGS.teamsAppCatalogId, SETTINGS.graphRatePerSecond, SETTINGS.audienceGuard].map((n) => [n, s[n]]),
      ),
      params,
    ) as Record<string, string>;
    const config = loadConfig({ [SETTINGS.storageConnectionString]: 'UseDevelopmentStorage=true', ...env });
    expect(config.graphProactiveInstall).toBe(true);
    expect(config.teamsAppCatalogId).toBe(params.teamsAppCatalogId);
    expect(config.audienceGuard).toBe(500);
    expect(config.graphEndpoint).toBe(DEFAULT_GRAPH_ENDPOINT);
  });
});

describe('graphPermissions output', () => {
  const permissions = (params: Record<string, unknown>) => evaluate(output('graphPermissions').value, params);

  it('lists the audience permissions only when proactive install is off (the default)', () => {
    expect(output('graphPermissions').type).toBe('array');
    expect(permissions({})).toEqual(AUDIENCE_PERMISSIONS);
    expect(permissions({ graphProactiveInstall: false })).toEqual(AUDIENCE_PERMISSIONS);
  });

  it('adds the install permissions when proactive install is on', () => {
    expect(permissions({ graphProactiveInstall: true })).toEqual([...AUDIENCE_PERMISSIONS, ...INSTALL_PERMISSIONS]);
  });

  it('outputs the identity\'s principal id (what gets the app roles) and the Graph endpoint to grant them on', () => {
    expect(referencesIdentity(output('identityPrincipalId').value, 'principalId')).toBe(true);
    expect(output('graphEndpoint').value).toBe("[parameters('graphEndpoint')]");
    // The app calls Graph as this same identity.
    expect(referencesIdentity(appSettings()[SETTINGS.managedIdentityClientId], 'clientId')).toBe(true);
  });
});

describe('scripts/grant-graph-permissions.sh', () => {
  const script = () => readFileSync(SCRIPT, 'utf8');

  it('exists, is executable and is strict bash', () => {
    expect(() => accessSync(SCRIPT, constants.X_OK)).not.toThrow();
    expect(script()).toMatch(/^#!\/usr\/bin\/env bash\n/);
    expect(script()).toMatch(/^set -euo pipefail$/m);
    expect(spawnSync('bash', ['-n', SCRIPT]).status).toBe(0);
  });

  it('knows exactly the permissions the graphPermissions output can list (so the two cannot drift)', () => {
    // The case patterns of why(): the script refuses any other name.
    const body = /^why\(\) \{\n([\s\S]*?)\n\}$/m.exec(script())?.[1] ?? '';
    const known = [...body.matchAll(/^\s+([A-Za-z]+(?:\.[A-Za-z]+)+)\)/gm)].map((m) => m[1]);
    const possible = evaluate(output('graphPermissions').value, { graphProactiveInstall: true }) as string[];
    expect([...known].sort()).toEqual([...possible].sort());
    expect([...possible].sort()).toEqual([...AUDIENCE_PERMISSIONS, ...INSTALL_PERMISSIONS].sort());
  });

  it('reads the deployment outputs the template has', () => {
    for (const name of script().match(/\$\(output (\w+)\)/g)?.map((m) => m.slice('$(output '.length, -1)) ?? []) {
      expect(mainTemplate().outputs).toHaveProperty(name);
    }
    expect(script()).toMatch(/\$\(output identityPrincipalId\)/);
    expect(script()).toMatch(/\$\(output graphPermissions\)/);
  });

  describe('against a stand-in az', () => {
    const GRAPH_SP = '9d2e3b4c-0000-4000-8000-00000000a001';
    const PRINCIPAL = '5b0f8c9e-1111-4222-8333-444455556666';
    // Stand-in app role ids (the script looks the real ones up on the Graph service principal).
    const ROLE_IDS: Record<string, string> = Object.fromEntries(
      [...AUDIENCE_PERMISSIONS, ...INSTALL_PERMISSIONS].map((name, i) => [name, `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`]),
    );
    let dir: string;

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'teams-notify-az-'));
      // Answers the queries the script makes from fixture.json and logs every call.
      const az = join(dir, 'az');
      writeFileSync(
        az,
        `#!/usr/bin/env node
const fs = require('node:fs');
const dir = ${JSON.stringify(dir)};
const f = JSON.parse(fs.readFileSync(dir + '/fixture.json', 'utf8'));
const args = process.argv.slice(2);
const opt = (n) => { const i = args.indexOf(n); return i < 0 ? undefined : args[i + 1]; };
fs.appendFileSync(dir + '/calls.jsonl', JSON.stringify(args) + '\\n');
const print = (lines) => process.stdout.write(lines.map((l) => l + '\\n').join(''));
if (args[0] === 'deployment') {
  const name = /^properties\\.outputs\\.(\\w+)\\.value$/.exec(opt('--query'))[1];
  const v = f.outputs[name];
  print(v === undefined ? [] : Array.isArray(v) ? v : [String(v)]);
} else if (args[0] === 'rest') {
  const method = opt('--method'), url = opt('--url');
  if (method === 'get' && url.includes("servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")) print([f.graphSp]);
  else if (method === 'get' && url.endsWith('$select=appRoles')) print(Object.entries(f.roles).map(([v, id]) => v + '\\t' + id));
  else if (method === 'get' && url.endsWith('/appRoleAssignments')) print(f.assigned);
  else if (method === 'post') {
    const body = JSON.parse(opt('--body'));
    if ((f.postAnswers || {})[body.appRoleId]) { process.stderr.write(f.postAnswers[body.appRoleId]); process.exit(1); }
  } else { process.stderr.write('stand-in az: unexpected ' + args.join(' ')); process.exit(2); }
} else { process.stderr.write('stand-in az: unexpected ' + args.join(' ')); process.exit(2); }
`,
      );
      chmodSync(az, 0o755);
    });

    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function run(args: string[], fixture: Record<string, unknown>, env: Record<string, string> = {}) {
      writeFileSync(join(dir, 'fixture.json'), JSON.stringify({ graphSp: GRAPH_SP, roles: ROLE_IDS, assigned: [], ...fixture }));
      const result = spawnSync('bash', [SCRIPT, ...args], {
        encoding: 'utf8',
        env: { PATH: `${dir}:${process.env.PATH ?? ''}`, HOME: dir, ...env },
      });
      let calls: string[][] = [];
      try {
        calls = readFileSync(join(dir, 'calls.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
      } catch {
        // no call made
      }
      const posts = calls
        .filter((c) => c[0] === 'rest' && c[c.indexOf('--method') + 1] === 'post')
        .map((c) => ({ url: c[c.indexOf('--url') + 1], body: JSON.parse(c[c.indexOf('--body') + 1] as string) as Record<string, string> }));
      return { ...result, calls, posts };
    }

    const outputs = (graphProactiveInstall: boolean) => ({
      identityPrincipalId: PRINCIPAL,
      graphPermissions: evaluate(output('graphPermissions').value, { graphProactiveInstall }),
      graphEndpoint: DEFAULT_GRAPH_ENDPOINT,
    });

    it('prints its usage with --help, and refuses to guess without a resource group or PRINCIPAL_ID', () => {
      const help = run(['--help'], {});
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^Usage:/);
      const none = run([], {});
      expect(none.status).not.toBe(0);
      expect(none.stderr).toMatch(/give a resource group, or set PRINCIPAL_ID and GRAPH_PERMISSIONS/);
    });

    it('grants each permission of the deployment\'s outputs the identity lacks, and skips the ones it has', () => {
      const r = run(['rg-notify', 'teams-notify'], {
        outputs: outputs(true),
        assigned: [ROLE_IDS['User.Read.All'], ROLE_IDS['Channel.ReadBasic.All']],
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const deployment = r.calls.find((c) => c[0] === 'deployment') ?? [];
      expect(deployment).toEqual(expect.arrayContaining(['--resource-group', 'rg-notify', '--name', 'teams-notify']));
      expect(r.posts.map((p) => p.body.appRoleId)).toEqual(
        ['GroupMember.Read.All', 'TeamsAppInstallation.ReadWriteSelfForUser.All', 'TeamsAppInstallation.ReadWriteSelfForTeam.All'].map((n) => ROLE_IDS[n]),
      );
      for (const p of r.posts) {
        expect(p.url).toBe(`${DEFAULT_GRAPH_ENDPOINT}/v1.0/servicePrincipals/${PRINCIPAL}/appRoleAssignments`);
        expect(p.body).toMatchObject({ principalId: PRINCIPAL, resourceId: GRAPH_SP });
      }
      expect(r.stdout).toMatch(/Granted 3, already granted 2\./);
    });

    it('changes nothing when every role is already granted (running it again is safe)', () => {
      const r = run(['rg-notify'], { outputs: outputs(false), assigned: [ROLE_IDS['GroupMember.Read.All'], ROLE_IDS['User.Read.All']] });
      expect(r.status).toBe(0);
      expect(r.posts).toEqual([]);
      expect(r.stdout).toMatch(/Granted 0, already granted 2\./);
      // Default deployment name: the one the README deploys with.
      expect(r.calls.find((c) => c[0] === 'deployment')).toEqual(expect.arrayContaining(['--name', 'teams-notify']));
    });

    it('takes the principal and permissions from the environment, and --dry-run posts nothing', () => {
      const env = { PRINCIPAL_ID: PRINCIPAL, GRAPH_PERMISSIONS: 'GroupMember.Read.All, User.Read.All' };
      const dry = run(['--dry-run'], {}, env);
      expect(dry.status).toBe(0);
      expect(dry.posts).toEqual([]);
      expect(dry.stdout).toMatch(/\+ GroupMember\.Read\.All \(would grant/);
      const real = run([], {}, env);
      expect(real.status).toBe(0);
      expect(real.posts.map((p) => p.body.appRoleId)).toEqual([ROLE_IDS['GroupMember.Read.All'], ROLE_IDS['User.Read.All']]);
    });

    it('treats a role assigned meanwhile as granted, and fails on any other refusal', () => {
      const env = { PRINCIPAL_ID: PRINCIPAL, GRAPH_PERMISSIONS: 'User.Read.All' };
      const race = run([], { postAnswers: { [ROLE_IDS['User.Read.All'] as string]: 'Bad Request: Permission being assigned already exists on the object' } }, env);
      expect(race.status).toBe(0);
      expect(race.stdout).toMatch(/= User\.Read\.All \(already granted/);
      const denied = run([], { postAnswers: { [ROLE_IDS['User.Read.All'] as string]: 'Forbidden: Authorization_RequestDenied' } }, env);
      expect(denied.status).not.toBe(0);
      expect(denied.stderr).toMatch(/Authorization_RequestDenied/);
      expect(denied.stderr).toMatch(/Privileged Role Administrator/);
    });

    it('refuses a permission the template does not ask for, and a principal id that is not a GUID', () => {
      const broad = run([], {}, { PRINCIPAL_ID: PRINCIPAL, GRAPH_PERMISSIONS: 'User.Read.All Directory.ReadWrite.All' });
      expect(broad.status).not.toBe(0);
      expect(broad.stderr).toMatch(/refusing Directory\.ReadWrite\.All/);
      expect(broad.posts).toEqual([]);
      const bad = run([], {}, { PRINCIPAL_ID: "x' || true", GRAPH_PERMISSIONS: 'User.Read.All' });
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/not a GUID/);
      expect(bad.calls).toEqual([]);
    });

    it('says so when the deployment predates the outputs', () => {
      const r = run(['rg-notify'], { outputs: {} });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/no identityPrincipalId output: deploy infra\/main\.bicep again/);
    });
  });
});
