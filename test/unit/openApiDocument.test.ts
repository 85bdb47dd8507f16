import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { functionDefinitions, type HttpFunctionDefinition } from '../../functions/definitions';
import { buildOpenApiDocument, serializeOpenApiDocument, type OpenApiDocument } from '../../shared/openapi/openApiDocument';

const ROOT = resolve(__dirname, '../..');
const REDOCLY = join(ROOT, 'node_modules', '.bin', 'redocly');

interface Operation {
  readonly operationId: string;
  readonly security: readonly Record<string, readonly string[]>[];
  readonly requestBody?: unknown;
  readonly responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }>;
}

const http = functionDefinitions.filter((d): d is HttpFunctionDefinition => d.kind === 'http');

function operationOf(document: OpenApiDocument, definition: HttpFunctionDefinition, method: string): Operation | undefined {
  return document.paths[`/api/${definition.route}`]?.[method.toLowerCase()] as Operation | undefined;
}

interface LintTotals {
  readonly errors: number;
  readonly warnings: number;
}

/** Redocly CLI, the real linter, with the repo's redocly.yaml; offline (no telemetry, no update check). */
async function lint(file: string): Promise<{ totals: LintTotals; problems: readonly { ruleId: string; message: string }[] }> {
  const run = promisify(execFile);
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  const args = ['lint', file, '--config', join(ROOT, 'redocly.yaml'), '--format', 'json'];
  const { stdout } = await run(REDOCLY, args, { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const json = stdout.slice(stdout.indexOf('{'));
  return JSON.parse(json) as { totals: LintTotals; problems: { ruleId: string; message: string }[] };
}

describe('the OpenAPI document (shared/openapi/openApiDocument.ts, openapi.json)', () => {
  const document = buildOpenApiDocument(functionDefinitions);

  it('documents every HTTP function of the table at its path and method, with the security its authLevel asks', () => {
    expect(http.length).toBeGreaterThanOrEqual(12);
    for (const definition of http) {
      for (const method of definition.methods) {
        const operation = operationOf(document, definition, method);
        expect({ name: definition.name, operationId: operation?.operationId }).toEqual({ name: definition.name, operationId: definition.name });
        const schemes = (operation?.security ?? []).flatMap((s) => Object.keys(s)).sort();
        const expected = {
          anonymous: [],
          function: ['adminKeyHeader', 'adminKeyQuery', 'functionKeyHeader', 'functionKeyQuery'],
          admin: ['adminKeyHeader', 'adminKeyQuery'],
        }[definition.authLevel];
        expect({ name: definition.name, schemes }).toEqual({ name: definition.name, schemes: expected });
      }
    }
    const documented = Object.values(document.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    expect(documented).toBe(http.reduce((n, d) => n + d.methods.length, 0));
  });

  it('refuses to build when a function has no description, so no endpoint goes undocumented', () => {
    const stray: HttpFunctionDefinition = { kind: 'http', name: 'undocumentedThing', methods: ['GET'], route: 'thing', authLevel: 'function', handler: () => Promise.resolve({ status: 200 }) };
    expect(() => buildOpenApiDocument([...functionDefinitions, stray])).toThrow(/no OpenAPI description for undocumentedThing/);
  });

  it('gives keyed operations a 401, body-taking ones 400 and 415, every one 500 and 503, all as problem+json', () => {
    for (const definition of http) {
      for (const method of definition.methods) {
        const operation = operationOf(document, definition, method) as Operation;
        const statuses = Object.keys(operation.responses);
        if (definition.authLevel !== 'anonymous') expect({ name: definition.name, has401: statuses.includes('401') }).toEqual({ name: definition.name, has401: true });
        if (operation.requestBody !== undefined) expect({ name: definition.name, has: ['400', '415'].filter((s) => statuses.includes(s)) }).toEqual({ name: definition.name, has: ['400', '415'] });
        for (const status of statuses.filter((s) => Number(s) >= 400 && !(definition.name === 'botMessages' && s === '501'))) {
          expect({ name: definition.name, status, content: Object.keys(operation.responses[status]?.content ?? {}) }).toEqual({ name: definition.name, status, content: ['application/problem+json'] });
        }
        expect(statuses).toEqual(expect.arrayContaining(['500', '503']));
      }
    }
  });

  it('names the headers of the contract: Idempotency-Key in, Location and idempotent-replayed out', () => {
    const post = document.paths['/api/notifications']?.post as Operation & { parameters: { $ref: string }[] };
    expect(post.parameters.map((p) => p.$ref)).toContain('#/components/parameters/IdempotencyKey');
    expect(Object.keys(post.responses['202']?.headers ?? {}).sort()).toEqual(['Location', 'idempotent-replayed']);
    expect(Object.keys(post.responses).sort()).toEqual(['200', '202', '400', '401', '409', '413', '415', '422', '500', '502', '503']);
    const components = document.components as { parameters: Record<string, { name: string; in: string }>; securitySchemes: Record<string, { in: string; name: string }> };
    expect(components.parameters.IdempotencyKey).toMatchObject({ name: 'Idempotency-Key', in: 'header' });
    expect(components.securitySchemes.functionKeyHeader).toMatchObject({ in: 'header', name: 'x-functions-key' });
    expect(components.securitySchemes.functionKeyQuery).toMatchObject({ in: 'query', name: 'code' });
  });

  it('takes its request schemas from the zod schemas the handlers parse with (zod converts them)', () => {
    const schemas = (document.components as { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[]; additionalProperties?: unknown }> }).schemas;
    expect(schemas.NotificationRequest?.required).toEqual(['recipients', 'message']);
    expect(schemas.NotificationRequest?.additionalProperties).toBe(false);
    expect(Object.keys(schemas.NotificationRequest?.properties ?? {})).toEqual(['recipients', 'message', 'sendAt', 'expiresAt', 'priority', 'maxAudience', 'callbackUrl']);
    expect(schemas.NotificationRequest?.properties?.recipients).toMatchObject({ minItems: 1, maxItems: 10_000, items: { $ref: '#/components/schemas/Recipient' } });
    expect(JSON.stringify(document)).not.toContain('"$schema"');
  });

  it('is what openapi.json at the repo root holds (run `npm run openapi` after changing an endpoint or a schema)', () => {
    const committed = readFileSync(join(ROOT, 'openapi.json'), 'utf8');
    const generated = serializeOpenApiDocument(document);
    if (committed !== generated) throw new Error('openapi.json is not the generated document: run `npm run openapi` and commit openapi.json');
    expect(JSON.parse(committed)).toEqual(JSON.parse(generated));
  });

  it('passes Redocly CLI lint (redocly.yaml: recommended) with zero errors and zero warnings', async () => {
    const result = await lint(join(ROOT, 'openapi.json'));
    expect(result.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(result.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  it('the lint does fail a broken document (a $ref to no schema)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openapi-lint-'));
    try {
      const broken = JSON.parse(serializeOpenApiDocument(document)) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
      const post = broken.paths['/api/notifications']?.post;
      if (post === undefined) throw new Error('no POST /api/notifications');
      post.requestBody = { content: { 'application/json': { schema: { $ref: '#/components/schemas/NoSuchSchema' } } } };
      const file = join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(broken));
      const result = await lint(file);
      expect(result.totals.errors).toBeGreaterThanOrEqual(1);
      expect(result.problems.map((p) => p.ruleId)).toContain('no-unresolved-refs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
