/**
 * Compiles infra/main.bicep with the Bicep CLI restored by scripts/bicep.sh and gives the infra
 * tests a small model of the ARM JSON: the main template, its module deployments (with the
 * main-level expression passed to every module parameter) and every resource, nested or not.
 *
 * There is no skip: the CLI is restored on first use, and a failed restore fails the tests with its reason.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const MAIN_BICEP = join(ROOT, 'infra', 'main.bicep');
export const MAIN_BICEPPARAM = join(ROOT, 'infra', 'main.bicepparam');

export type Json = Record<string, unknown>;

export interface ArmResource extends Json {
  type: string;
  apiVersion: string;
  name: string;
  scope?: string;
  condition?: unknown;
  properties?: Json;
}

export interface ArmTemplate extends Json {
  parameters?: Record<string, Json & { type: string; defaultValue?: unknown; allowedValues?: unknown[] }>;
  variables?: Json;
  resources: ArmResource[] | Record<string, ArmResource>;
  outputs?: Record<string, { type: string; value: unknown }>;
}

export interface ModuleDeployment {
  /** The module's deployment name in main.bicep (`name:`), e.g. 'storage'. */
  readonly name: string;
  readonly resource: ArmResource;
  /** Main-level expression or literal passed to each module parameter. */
  readonly params: Record<string, unknown>;
  readonly template: ArmTemplate;
}

let restored: string | undefined;

/**
 * The Bicep CLI: `BICEP_PATH`, or the one in the git-ignored `.tools/bicep`, restored on first use
 * by the same NuGet restore CI runs (`scripts/bicep.sh --restore-only`, which takes a lock, so
 * parallel test files restore once). Later runs find it cached.
 */
export function bicepPath(): string {
  if (process.env.BICEP_PATH !== undefined && process.env.BICEP_PATH !== '') return process.env.BICEP_PATH;
  const cached = join(ROOT, '.tools', 'bicep', 'bicep');
  if (restored !== undefined) return restored;
  if (!existsSync(cached)) {
    const run = spawnSync('bash', [join(ROOT, 'scripts', 'bicep.sh'), '--restore-only'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
      timeout: 10 * 60_000,
    });
    if (run.error !== undefined || run.status !== 0 || !existsSync(cached)) {
      throw new Error(
        `Could not restore the Bicep CLI into ${cached} (dotnet restore of the NuGet package Azure.Bicep.CommandLine.linux-x64): ` +
          `${run.error?.message ?? ''}${run.stderr}`.trim(),
      );
    }
  }
  restored = cached;
  return cached;
}

export interface BuildResult {
  readonly json: Json;
  /** What bicep printed on stderr: warnings and errors (the linter runs during build). */
  readonly diagnostics: string;
}

function runBicep(args: readonly string[], outFile: string): BuildResult {
  const dir = mkdtempSync(join(tmpdir(), 'teams-notify-bicep-'));
  const out = join(dir, outFile);
  try {
    const run = spawnSync(bicepPath(), [...args, '--outfile', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1' },
    });
    if (run.error) throw run.error;
    if (run.status !== 0) throw new Error(`bicep ${args.join(' ')} failed (exit ${String(run.status)}):\n${run.stderr}${run.stdout}`);
    return { json: JSON.parse(readFileSync(out, 'utf8')) as Json, diagnostics: `${run.stderr}${run.stdout}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let cached: BuildResult | undefined;

/** `bicep build infra/main.bicep` into a temporary directory (once per test file). */
export function buildMain(): BuildResult {
  cached ??= runBicep(['build', MAIN_BICEP], 'main.json');
  return cached;
}

/** `bicep build-params infra/main.bicepparam`. */
export function buildParams(): BuildResult {
  return runBicep(['build-params', MAIN_BICEPPARAM], 'main.parameters.json');
}

export function mainTemplate(): ArmTemplate {
  return buildMain().json as ArmTemplate;
}

export function resourcesOf(template: ArmTemplate): ArmResource[] {
  return Array.isArray(template.resources) ? template.resources : Object.values(template.resources);
}

const DEPLOYMENTS = 'Microsoft.Resources/deployments';

export function modules(template: ArmTemplate = mainTemplate()): ModuleDeployment[] {
  return resourcesOf(template)
    .filter((r) => r.type === DEPLOYMENTS)
    .map((r) => {
      const props = r.properties as { parameters?: Record<string, { value?: unknown } | string>; template: ArmTemplate };
      // A parameter is { value } or, when Bicep hoists a condition, an expression building { value }.
      const params = Object.fromEntries(
        Object.entries(props.parameters ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : v.value]),
      );
      return { name: r.name, resource: r, params, template: props.template };
    });
}

export function moduleNamed(name: string, template: ArmTemplate = mainTemplate()): ModuleDeployment {
  const found = modules(template).find((m) => m.name === name);
  if (!found) throw new Error(`no module deployment named ${name}; have ${modules(template).map((m) => m.name).join(', ')}`);
  return found;
}

export interface LocatedResource {
  /** Module deployment name, or 'main'. */
  readonly module: string;
  readonly resource: ArmResource;
}

/** Every resource of the deployment: main's own and each module's. */
export function allResources(template: ArmTemplate = mainTemplate()): LocatedResource[] {
  const own = resourcesOf(template)
    .filter((r) => r.type !== DEPLOYMENTS)
    .map((resource) => ({ module: 'main', resource }));
  const nested = modules(template).flatMap((m) =>
    resourcesOf(m.template).map((resource) => ({ module: m.name, resource })),
  );
  return [...own, ...nested];
}

export function resourcesOfType(type: string, template: ArmTemplate = mainTemplate()): LocatedResource[] {
  return allResources(template).filter((r) => r.resource.type.toLowerCase() === type.toLowerCase());
}

export function oneResource(type: string, template: ArmTemplate = mainTemplate()): LocatedResource {
  const found = resourcesOfType(type, template);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as LocatedResource;
}

/** `[parameters('x')]` → 'x'; anything else → undefined. */
export function parameterName(expression: unknown): string | undefined {
  return typeof expression === 'string' ? /^\[parameters\('([^']+)'\)\]$/.exec(expression)?.[1] : undefined;
}

/** `[variables('x')]` → main's variable value (a literal for the simple ones). */
export function mainVariable(name: string, template: ArmTemplate = mainTemplate()): unknown {
  const variables = template.variables ?? {};
  if (!(name in variables)) throw new Error(`main template has no variable ${name}`);
  return variables[name];
}

/**
 * The main-level value behind a module parameter: follows `[variables('x')]` to a literal when it
 * is one, and returns the expression otherwise.
 */
export function moduleParam(moduleName: string, param: string, template: ArmTemplate = mainTemplate()): unknown {
  const m = moduleNamed(moduleName, template);
  if (!(param in m.params)) throw new Error(`module ${moduleName} gets no parameter ${param}`);
  const value = m.params[param];
  const variable = typeof value === 'string' ? /^\[variables\('([^']+)'\)\]$/.exec(value)?.[1] : undefined;
  return variable ? mainVariable(variable, template) : value;
}

/** Main-level expression of a module output reference: `reference(...'storage'...).outputs.x.value`. */
export function referencesModuleOutput(expression: unknown, moduleName: string, output: string): boolean {
  if (typeof expression !== 'string') return false;
  const escaped = moduleName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `reference\\(resourceId\\('Microsoft\\.Resources/deployments', '${escaped}'\\), '[^']+'\\)\\.outputs\\.${output}\\.value`,
  ).test(expression);
}

/** Expression naming the user-assigned identity declared in main.bicep, with a property (clientId, principalId). */
export function referencesIdentity(expression: unknown, property: 'clientId' | 'principalId'): boolean {
  return (
    typeof expression === 'string' &&
    new RegExp(
      `reference\\(resourceId\\('Microsoft\\.ManagedIdentity/userAssignedIdentities', variables\\('names'\\)\\.identity\\), '[^']+'\\)\\.${property}`,
    ).test(expression)
  );
}

/** The module's own output expression. */
export function moduleOutput(moduleName: string, output: string, template: ArmTemplate = mainTemplate()): unknown {
  const m = moduleNamed(moduleName, template);
  const out = m.template.outputs?.[output];
  if (!out) throw new Error(`module ${moduleName} has no output ${output}`);
  return out.value;
}

/** An ARM function or construct {@link evaluate} does not model (reference(), resourceId(), tenant() ...). */
export class UnsupportedExpression extends Error {
  override name = 'UnsupportedExpression';
}

type Token = { kind: 'string' | 'number' | 'ident' | 'punct'; text: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "'") {
      // A quote inside an ARM string literal is written twice.
      let text = '';
      i += 1;
      for (;;) {
        if (i >= source.length) throw new Error(`unterminated string in [${source}]`);
        if (source[i] === "'" && source[i + 1] === "'") {
          text += "'";
          i += 2;
        } else if (source[i] === "'") {
          i += 1;
          break;
        } else {
          text += source[i];
          i += 1;
        }
      }
      tokens.push({ kind: 'string', text });
    } else if (/[-\d]/.test(c)) {
      const m = /^-?\d+(\.\d+)?/.exec(source.slice(i));
      if (!m) throw new Error(`bad number in [${source}] at ${i}`);
      tokens.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][\w$]*/.exec(source.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    } else if ('(),.[]'.includes(c)) {
      tokens.push({ kind: 'punct', text: c });
      i += 1;
    } else {
      throw new Error(`unexpected ${c} in [${source}]`);
    }
  }
  return tokens;
}

/** The template functions {@link evaluate} implements (lower case). */
const KNOWN_FUNCTIONS = new Set([
  'if', 'parameters', 'variables', 'concat', 'createarray', 'createobject', 'string', 'tolower', 'empty', 'equals', 'not', 'and', 'or', 'true', 'false', 'format',
]);

/** ARM's string(): True/False for bools (not true/false), JSON for arrays and objects. */
function armString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

/**
 * Evaluates a value of the compiled template as ARM would: literals as they are, `[expression]`
 * strings through a small interpreter of the template functions the Bicep here compiles to
 * (parameters, variables, if, concat, createArray, string, ...). `parameters` stands in for the
 * deployment's parameter values; a parameter not given takes its defaultValue. Anything only Azure
 * can answer (reference(), resourceId(), tenant(), ...) throws {@link UnsupportedExpression}.
 */
export function evaluate(value: unknown, parameters: Record<string, unknown> = {}, template: ArmTemplate = mainTemplate()): unknown {
  if (Array.isArray(value)) return value.map((v) => evaluate(v, parameters, template));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, parameters, template)]));
  }
  if (typeof value !== 'string' || !value.startsWith('[') || !value.endsWith(']')) return value;
  // `[[` escapes a literal string that starts with `[`.
  if (value.startsWith('[[')) return value.slice(1);

  type Node =
    | { kind: 'literal'; value: unknown }
    | { kind: 'call'; name: string; args: Node[] }
    | { kind: 'member'; target: Node; key: Node };

  const tokens = tokenize(value.slice(1, -1));
  let at = 0;
  const peek = () => tokens[at];
  const take = (text?: string): Token => {
    const t = tokens[at];
    if (t === undefined || (text !== undefined && t.text !== text)) throw new Error(`expected ${text ?? 'a token'} at ${at} in ${value}`);
    at += 1;
    return t;
  };

  const parse = (): Node => {
    const t = take();
    let node: Node;
    if (t.kind === 'string') node = { kind: 'literal', value: t.text };
    else if (t.kind === 'number') node = { kind: 'literal', value: Number(t.text) };
    else if (t.kind === 'ident') {
      take('(');
      const args: Node[] = [];
      while (peek()?.text !== ')') {
        args.push(parse());
        if (peek()?.text === ',') take(',');
      }
      take(')');
      node = { kind: 'call', name: t.text.toLowerCase(), args };
    } else throw new Error(`unexpected ${t.text} in ${value}`);
    // Property and index access: x.name, x[0], x['name'].
    for (;;) {
      if (peek()?.text === '.') {
        take('.');
        node = { kind: 'member', target: node, key: { kind: 'literal', value: take().text } };
      } else if (peek()?.text === '[') {
        take('[');
        const key = parse();
        take(']');
        node = { kind: 'member', target: node, key };
      } else {
        return node;
      }
    }
  };

  const run = (node: Node): unknown => {
    if (node.kind === 'literal') return node.value;
    if (node.kind === 'member') return (run(node.target) as Record<string, unknown>)[String(run(node.key))];
    // if() evaluates only the branch taken, as ARM does: the other may name what only Azure knows.
    if (node.name === 'if') {
      const [condition, whenTrue, whenFalse] = node.args as [Node, Node, Node];
      const c = run(condition);
      if (typeof c !== 'boolean') throw new Error(`if() needs a bool, got ${JSON.stringify(c)} in ${value}`);
      return run(c ? whenTrue : whenFalse);
    }
    // What only Azure can answer fails before its arguments are looked at.
    if (!KNOWN_FUNCTIONS.has(node.name)) throw new UnsupportedExpression(`${node.name}() in ${value}`);
    const args = node.args.map(run);
    const arg = (i: number) => args[i];
    switch (node.name) {
      case 'parameters': {
        const p = String(arg(0));
        if (p in parameters) return parameters[p];
        const declared = template.parameters?.[p];
        if (declared === undefined) throw new Error(`template has no parameter ${p}`);
        if (!('defaultValue' in declared)) throw new Error(`parameter ${p} has no default: pass a value`);
        return evaluate(declared.defaultValue, parameters, template);
      }
      case 'variables': {
        const v = String(arg(0));
        if (!(v in (template.variables ?? {}))) throw new Error(`template has no variable ${v}`);
        return evaluate(template.variables?.[v], parameters, template);
      }
      case 'concat':
        return args.every(Array.isArray) ? (args as unknown[][]).flat() : args.map(armString).join('');
      case 'createarray':
        return args;
      case 'createobject': {
        const o: Record<string, unknown> = {};
        for (let i = 0; i < args.length; i += 2) o[String(args[i])] = args[i + 1];
        return o;
      }
      case 'string':
        return armString(arg(0));
      case 'tolower':
        return String(arg(0)).toLowerCase();
      case 'empty': {
        const v = arg(0);
        if (v === null || v === undefined) return true;
        if (typeof v === 'string' || Array.isArray(v)) return v.length === 0;
        return typeof v === 'object' && Object.keys(v).length === 0;
      }
      case 'equals':
        return JSON.stringify(arg(0)) === JSON.stringify(arg(1));
      case 'not':
        return !arg(0);
      case 'and':
        return args.every(Boolean);
      case 'or':
        return args.some(Boolean);
      case 'true':
        return true;
      case 'false':
        return false;
      case 'format':
        return String(arg(0)).replace(/\{(\d+)\}/g, (_, n: string) => armString(args[Number(n) + 1]));
      default:
        throw new Error(`KNOWN_FUNCTIONS lists ${node.name}() but evaluate() does not implement it`);
    }
  };

  const tree = parse();
  if (at !== tokens.length) throw new Error(`trailing tokens in ${value}`);
  return run(tree);
}
