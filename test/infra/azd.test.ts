/**
 * `azd up` (azure.yaml), checked offline: the file against the schema of the keys azd reads, every
 * path it names, the parameters azd passes (infra/azd.bicepparam compiled by the Bicep CLI with a
 * stand-in azd environment), the outputs the postprovision hook reads (outputs of the compiled
 * infra/main.bicep), the azd-service-name tag azd deploys by, the hook's output, and the package
 * the prepackage hook lays out (loaded with production dependencies only).
 */
import AdmZip from 'adm-zip';
import Ajv2019 from 'ajv/dist/2019';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { type ArmTemplate, ROOT, allResources, bicepPath, mainTemplate, oneResource } from './arm';

interface Hook {
  shell?: string;
  run?: string;
  windows?: Hook;
  posix?: Hook;
}

interface Service {
  project: string;
  language: string;
  host: string;
  dist?: string;
  remoteBuild?: boolean;
  hooks?: Record<string, Hook>;
}

interface AzureYaml {
  name: string;
  infra: { provider: string; path: string; module: string };
  services: Record<string, Service>;
  hooks: Record<string, Hook>;
}

const AZURE_YAML = join(ROOT, 'azure.yaml');
const SCHEMA = join(ROOT, 'test', 'infra', 'schemas', 'azure.yaml.schema.json');

/** Values azd itself puts in the environment (not template outputs). */
const AZD_VALUES = ['AZURE_ENV_NAME', 'AZURE_LOCATION', 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_TENANT_ID'];

function readAzureYaml(): unknown {
  const doc = parseDocument(readFileSync(AZURE_YAML, 'utf8'), { uniqueKeys: true, strict: true, prettyErrors: true });
  const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
  expect(problems).toEqual([]);
  return doc.toJS() as unknown;
}

const config = readAzureYaml() as AzureYaml;
const [serviceName, service] = Object.entries(config.services)[0] as [string, Service];

function validator() {
  // strictRequired off: like azd's schema, the if/then conditions require keys declared beside them.
  const ajv = new Ajv2019({ allErrors: true, strict: true, strictRequired: false });
  return ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
}

function hookScripts(): { event: string; run: string; cwd: string }[] {
  const own = Object.entries(config.hooks).map(([event, hook]) => ({ event, hook, cwd: ROOT }));
  const services = Object.values(config.services).flatMap((s) =>
    Object.entries(s.hooks ?? {}).map(([event, hook]) => ({ event, hook, cwd: resolve(ROOT, s.project) })),
  );
  return [...own, ...services].map(({ event, hook, cwd }) => {
    expect(hook.run).toEqual(expect.any(String));
    return { event, run: hook.run as string, cwd };
  });
}

/** Inside the repository, relative, no `..` out of it. */
function inRepo(path: string, from: string = ROOT): string {
  expect(isAbsolute(path)).toBe(false);
  const full = resolve(from, path);
  expect(relative(ROOT, full).startsWith('..')).toBe(false);
  return full;
}

describe('azure.yaml', () => {
  it('is valid against the schema of the keys azd reads (ajv, draft 2019-09)', () => {
    const validate = validator();
    const ok = validate(config);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('fails the schema when a key azd reads is wrong, so the check above can fail', () => {
    const validate = validator();
    const copy = (): AzureYaml => JSON.parse(JSON.stringify(config)) as AzureYaml;
    const broken: [string, AzureYaml][] = [];
    let c = copy();
    delete (c.services[serviceName] as Partial<Service>).host;
    broken.push(['a service without host', c]);
    c = copy();
    (c.services[serviceName] as unknown as Record<string, unknown>).remotebuild = false;
    broken.push(['a misspelt key', c]);
    c = copy();
    (c.services[serviceName] as Service).host = 'appservice';
    broken.push(['remoteBuild on a host other than function', c]);
    c = copy();
    c.hooks.postprovision = { shell: 'bash', run: 'x.sh' };
    broken.push(['a shell azd does not know', c]);
    c = copy();
    c.hooks.postprovision = { shell: 'sh' };
    broken.push(['a hook without run', c]);
    c = copy();
    (c.hooks as Record<string, Hook>).afterprovision = { run: 'x.sh' };
    broken.push(['an event azd does not raise', c]);
    c = copy();
    c.name = 'Teams Notify';
    broken.push(['a name azd refuses', c]);
    for (const [why, value] of broken) {
      expect([why, validate(value)]).toEqual([why, false]);
    }
  });

  it('deploys one TypeScript service to a Function App from the project root, as a complete package (no remote build)', () => {
    expect(config.name).toBe('teams-notify');
    expect(Object.keys(config.services)).toEqual(['api']);
    expect(service).toMatchObject({ project: '.', language: 'ts', host: 'function', remoteBuild: false });
    const pkg = JSON.parse(readFileSync(join(inRepo(service.project), 'package.json'), 'utf8')) as { main: string; scripts: Record<string, string> };
    // azd runs `npm install` and the `build` script before packaging a ts service.
    expect(pkg.scripts.build).toEqual(expect.any(String));
    expect(pkg.main).toBe('dist/functions/index.js');
  });

  it('names paths that exist: infra/, its module, the service project and executable hook scripts', () => {
    const infra = inRepo(config.infra.path);
    expect(config.infra.provider).toBe('bicep');
    expect(statSync(infra).isDirectory()).toBe(true);
    // azd prefers <module>.bicepparam over <module>.bicep.
    expect(existsSync(join(infra, `${config.infra.module}.bicepparam`))).toBe(true);
    expect(readFileSync(join(infra, `${config.infra.module}.bicepparam`), 'utf8')).toMatch(/^using 'main\.bicep'$/m);
    expect(statSync(inRepo(service.project)).isDirectory()).toBe(true);
    const scripts = hookScripts();
    expect(scripts.map((s) => s.event).sort()).toEqual(['postprovision', 'prepackage']);
    for (const { run, cwd } of scripts) {
      const file = inRepo(run, cwd);
      accessSync(file, constants.X_OK);
      expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('#!/bin/sh');
      const syntax = spawnSync('sh', ['-n', file], { encoding: 'utf8' });
      expect(syntax.stderr).toBe('');
      expect(syntax.status).toBe(0);
    }
  });

  it('packages from a git-ignored folder that the prepackage hook lays out', () => {
    expect(service.dist).toBe('build/function');
    inRepo(service.dist as string, inRepo(service.project));
    const ignored = spawnSync('git', ['check-ignore', '-q', service.dist as string], { cwd: ROOT });
    expect(ignored.status).toBe(0);
    expect(readFileSync(join(ROOT, 'scripts', 'azd-package-function.sh'), 'utf8')).toContain('${1:-$root/build/function}');
    // remoteBuild: false needs node_modules in the package: .funcignore must not drop it (azd refuses the pair).
    const funcignore = readFileSync(join(ROOT, '.funcignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(funcignore.filter((l) => /^\/?node_modules\/?$/.test(l))).toEqual([]);
  });

  it('keeps the azd environments out of git: .azure/<env>/.env holds `azd env set` values such as CALLBACK_SIGNING_KEY', () => {
    const ignored = spawnSync('git', ['check-ignore', '-q', '.azure/dev/.env'], { cwd: ROOT });
    expect(ignored.status).toBe(0);
  });
});

describe('the Function App azd deploys to', () => {
  it('carries the tag azd-service-name = the service name, on the site and on nothing else', () => {
    const site = oneResource('Microsoft.Web/sites');
    expect(String(site.resource.tags)).toContain(`createObject('azd-service-name', '${serviceName}')`);
    const tagged = allResources().filter((r) => JSON.stringify(r.resource).includes('azd-service-name'));
    expect(tagged.map((r) => r.resource.type)).toEqual(['Microsoft.Web/sites']);
  });

  it('is on Flex Consumption with a Node runtime', () => {
    const plan = oneResource('Microsoft.Web/serverfarms');
    expect(plan.resource.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    const runtime = (oneResource('Microsoft.Web/sites').resource.properties?.functionAppConfig as { runtime: { name: string } }).runtime;
    expect(runtime.name).toBe('node');
  });
});

describe('infra/azd.bicepparam: the parameters from the azd environment', () => {
  const file = join(ROOT, 'infra', 'azd.bicepparam');
  const baseEnv = { AZURE_ENV_NAME: 'dev', AZURE_LOCATION: 'swedencentral' };

  function buildParams(env: Record<string, string>): Record<string, unknown> {
    const run = spawnSync(bicepPath(), ['build-params', file, '--stdout'], {
      cwd: ROOT,
      encoding: 'utf8',
      // Only what azd would pass: no variable of this shell leaks into the parameters.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), DOTNET_CLI_TELEMETRY_OPTOUT: '1', ...env },
    });
    if (run.status !== 0) throw new Error(`bicep build-params failed:\n${run.stderr}${run.stdout}`);
    const out = JSON.parse(run.stdout) as { parametersJson: string };
    const params = (JSON.parse(out.parametersJson) as { parameters: Record<string, { value: unknown }> }).parameters;
    return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.value]));
  }

  /** `readEnvironmentVariable('NAME'...)` per parameter, as written in the file. */
  function variables(): Record<string, string> {
    const text = readFileSync(file, 'utf8');
    return Object.fromEntries(
      [...text.matchAll(/^param (\w+) = .*readEnvironmentVariable\('([A-Z0-9_]+)'/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
  }

  const snake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

  it('reads each parameter from its UPPER_SNAKE_CASE name, and the name and location azd sets', () => {
    const vars = variables();
    const declared = mainTemplate().parameters ?? {};
    expect(Object.keys(vars).length).toBeGreaterThan(20);
    for (const [param, variable] of Object.entries(vars)) {
      expect(declared).toHaveProperty(param);
      const expected = param === 'environmentName' ? 'AZURE_ENV_NAME' : param === 'location' ? 'AZURE_LOCATION' : snake(param);
      expect([param, variable]).toEqual([param, expected]);
    }
  });

  it('gives an unset variable main.bicep\'s own default', () => {
    const values = buildParams(baseEnv);
    const declared = mainTemplate().parameters ?? {};
    expect(values.environmentName).toBe('dev');
    expect(values.location).toBe('swedencentral');
    for (const [param, value] of Object.entries(values)) {
      if (param === 'environmentName' || param === 'location') continue;
      expect([param, value]).toEqual([param, declared[param]?.defaultValue]);
    }
  });

  it('passes a set variable through with the parameter\'s type (int, bool, string, secure string)', () => {
    const values = buildParams({
      ...baseEnv,
      APP_NAME: 'Contoso Alerts',
      MAXIMUM_INSTANCE_COUNT: '40',
      INSTANCE_MEMORY_MB: '4096',
      TENANT_RATE_PER_SECOND: '25',
      GRAPH_PROACTIVE_INSTALL: 'true',
      TEAMS_APP_CATALOG_ID: 'b1c5353a-7aca-41b3-830f-27d5218fe0e5',
      CALLBACK_SIGNING_KEY: 'k'.repeat(64),
    });
    expect(values).toMatchObject({
      appName: 'Contoso Alerts',
      maximumInstanceCount: 40,
      instanceMemoryMB: 4096,
      tenantRatePerSecond: 25,
      graphProactiveInstall: true,
      teamsAppCatalogId: 'b1c5353a-7aca-41b3-830f-27d5218fe0e5',
      callbackSigningKey: 'k'.repeat(64),
    });
    expect(mainTemplate().parameters?.callbackSigningKey?.type).toBe('securestring');
  });

  it('refuses what main.bicep refuses, and needs the azd environment\'s name and location', () => {
    expect(() => buildParams({ ...baseEnv, BOT_SKU: 'P1' })).toThrow(/BCP033/);
    expect(() => buildParams({ AZURE_LOCATION: 'swedencentral' })).toThrow(/AZURE_ENV_NAME/);
  });

  it('lints clean (bicep lint: no warning, no error)', () => {
    const run = spawnSync(bicepPath(), ['lint', file], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...baseEnv, DOTNET_CLI_TELEMETRY_OPTOUT: '1' } });
    expect(`${run.stderr}${run.stdout}`.trim()).toBe('');
    expect(run.status).toBe(0);
  });
});

describe('the postprovision hook', () => {
  const hook = join(ROOT, 'scripts', 'azd-postprovision.sh');
  const text = readFileSync(hook, 'utf8');
  /** The script's declared inputs: `: "${name:?...}"`. */
  const inputs = [...text.matchAll(/^: "\$\{(\w+):\?/gm)].map((m) => m[1] as string);

  const HOST = 'func-notify-dev-k3x9q2.azurewebsites.net';
  const BOT_ID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
  const PRINCIPAL_ID = '9a5b1c1e-3b7d-4c1f-8a59-6f0c8f0a9d11';
  // What azd writes to .azure/<env>/.env after provisioning: each output under its own name (an array
  // as JSON), plus azd's own values. The secrets stand in for `azd env set` values the hook must not show.
  const SECRET = 'callback-key-0123456789abcdef0123456789abcdef';
  const APP_SECRET = 'app~password~Qx8Q~never-print-me';
  const outputs: Record<string, string> = {
    messagingEndpoint: `https://${HOST}/api/messages`,
    functionBaseUrl: `https://${HOST}`,
    functionHostName: HOST,
    functionAppName: 'func-notify-dev-k3x9q2',
    botId: BOT_ID,
    appName: "Contoso's Alerts",
    identityPrincipalId: PRINCIPAL_ID,
    graphPermissions: '["GroupMember.Read.All","User.Read.All"]',
    graphEndpoint: 'https://graph.microsoft.com',
    AZURE_RESOURCE_GROUP: 'rg-teams-notify-dev',
  };

  function runHook(env: Record<string, string>) {
    return spawnSync('sh', [hook], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } });
  }

  it('reads only outputs of the compiled infra/main.bicep (same names, same case) and values azd sets', () => {
    const templateOutputs = Object.keys((mainTemplate() as ArmTemplate).outputs ?? {});
    expect(inputs.length).toBeGreaterThan(5);
    for (const name of inputs) {
      expect([name, templateOutputs.includes(name) || AZD_VALUES.includes(name)]).toEqual([name, true]);
    }
    expect(Object.keys(outputs).sort()).toEqual([...inputs].sort());
  });

  it('with only those set, prints the messaging endpoint, the Graph grant and the app package steps, and no secret', () => {
    const run = runHook({ ...outputs, CALLBACK_SIGNING_KEY: SECRET, SINGLE_TENANT_APP_PASSWORD: APP_SECRET });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = run.stdout;
    expect(out).toContain(`Messaging endpoint (registered on the Azure Bot): https://${HOST}/api/messages`);
    expect(out).toContain(`Bot (Microsoft App) id:                           ${BOT_ID}`);
    expect(out).toContain(`curl -s https://${HOST}/api/health`);
    expect(out).toContain('npm run package:teams');
    expect(out).toContain('Upload new app');
    expect(out).toContain("GRAPH_PERMISSIONS='GroupMember.Read.All User.Read.All'");
    expect(out).toContain('az functionapp keys list -g rg-teams-notify-dev -n func-notify-dev-k3x9q2');
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(APP_SECRET);
  });

  it('prints a package command that builds the Teams app package for this bot and host as printed', () => {
    const out = runHook(outputs).stdout;
    const line = out.split('\n').find((l) => l.includes('npm run package:teams'))?.trim();
    expect(line).toMatch(/^BOT_ID=\S+ BOT_DOMAIN=\S+ APP_NAME=.+ npm run package:teams$/);
    const dir = mkdtempSync(join(tmpdir(), 'teams-notify-azd-'));
    try {
      const zip = join(dir, 'appPackage.zip');
      const run = spawnSync('sh', ['-c', `${line as string} -- --out '${zip}'`], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir },
      });
      expect(run.status).toBe(0);
      const manifest = JSON.parse(new AdmZip(zip).readAsText('manifest.json')) as {
        bots: { botId: string }[];
        validDomains: string[];
        name: { short: string };
      };
      expect(manifest.bots[0]?.botId).toBe(BOT_ID);
      expect(manifest.validDomains).toContain(HOST);
      expect(manifest.name.short).toBe("Contoso's Alerts");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints a grant command whose values grant-graph-permissions.sh reads', () => {
    const out = runHook(outputs).stdout;
    const lines = out.split('\n');
    const at = lines.findIndex((l) => l.includes('PRINCIPAL_ID='));
    const command = `${lines[at] ?? ''}\n${lines[at + 1] ?? ''}`.trim();
    expect(command).toMatch(/scripts\/grant-graph-permissions\.sh --dry-run$/);
    // The same shell words, with the script replaced by a print of what it would read.
    const run = spawnSync('sh', ['-c', command.replace('scripts/grant-graph-permissions.sh --dry-run', 'env')], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    const env = Object.fromEntries(run.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env).toMatchObject({ PRINCIPAL_ID, GRAPH_PERMISSIONS: 'GroupMember.Read.All User.Read.All', GRAPH_ENDPOINT: 'https://graph.microsoft.com' });
  });

  it('fails, naming it, when an output is missing (an azd environment from before that output)', () => {
    for (const name of inputs) {
      const { [name]: _left, ...rest } = outputs;
      const run = runHook(rest);
      expect([name, run.status]).not.toEqual([name, 0]);
      expect(run.stderr).toContain(name);
    }
  });
});

describe('the prepackage hook\'s package', () => {
  it('holds host.json, package.json (main, no scripts, no devDependencies), dist and production node_modules, and loads every function with them alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'teams-notify-azd-package-'));
    try {
      const out = join(dir, 'function');
      // CI builds before the tests; a fresh clone without dist/ builds here, as azd would.
      const built = existsSync(join(ROOT, 'dist', 'functions', 'index.js'));
      const run = spawnSync('sh', [join(ROOT, 'scripts', 'azd-package-function.sh'), out], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, SKIP_BUILD: built ? '1' : '' },
        timeout: 8 * 60_000,
      });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);

      const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
      const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as Record<string, unknown>;
      expect(pkg.main).toBe(root.main);
      expect(pkg.dependencies).toEqual(root.dependencies);
      expect(pkg).not.toHaveProperty('scripts');
      expect(pkg).not.toHaveProperty('devDependencies');
      expect(readFileSync(join(out, 'host.json'), 'utf8')).toBe(readFileSync(join(ROOT, 'host.json'), 'utf8'));
      for (const dep of Object.keys(root.dependencies)) expect([dep, existsSync(join(out, 'node_modules', dep, 'package.json'))]).toEqual([dep, true]);
      for (const dev of ['typescript', 'jest', 'azurite']) expect([dev, existsSync(join(out, 'node_modules', dev))]).toEqual([dev, false]);

      // The Functions host loads `main`; outside the host @azure/functions only reports each
      // registration. Every definition the package holds must be registered by `main`.
      const script = [
        `require(${JSON.stringify(join(out, root.main))});`,
        `const { functionDefinitions } = require(${JSON.stringify(join(out, 'dist', 'functions', 'definitions.js'))});`,
        'console.log("DEFINED " + JSON.stringify(functionDefinitions.map((d) => d.name)));',
      ].join('\n');
      const load = spawnSync(process.execPath, ['-e', script], { cwd: out, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      expect(load.status).toBe(0);
      const output = `${load.stdout}${load.stderr}`;
      const defined = JSON.parse(/^DEFINED (.*)$/m.exec(output)?.[1] ?? '[]') as string[];
      const registered = [...output.matchAll(/register function "([^"]+)"/g)].map((m) => m[1]);
      expect(defined).toEqual(expect.arrayContaining(['postNotification', 'botMessages', 'deliverJob']));
      expect(registered.sort()).toEqual([...defined].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 10 * 60_000);
});
