import type { FunctionDefinition, HttpFunctionDefinition } from '../../functions/definitions';
import { MAX_BODY_BYTES } from '../http/readJsonBody';
import { DEFAULT_LIST_LIMIT, DEFAULT_REDRIVE_LIMIT, MAX_LIST_LIMIT, MAX_REDRIVE_LIMIT } from '../requests/deadLetterQuery';
import { componentJsonSchemas, type JsonSchema } from './componentSchemas';
import { operationDocs, type HeaderName, type OperationDoc, type ParameterName, type ResponseDoc } from './operations';

/** The API's version in the document: the public contract's (../shared/CONTRACT.md). */
export const API_VERSION = '1.1.0';

export type OpenApiDocument = Record<string, unknown> & { readonly openapi: string; readonly paths: Record<string, Record<string, unknown>> };

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };

const headers: Record<HeaderName, Record<string, unknown>> = {
  Location: { description: 'The status URL, `/api/notifications/{id}`', required: true, schema: { type: 'string' } },
  IdempotentReplayed: {
    description: '`true` when the same `Idempotency-Key` and body were seen before: the first answer, and nothing started again',
    schema: { type: 'string', enum: ['true'] },
  },
  RetryAfter: { description: 'Seconds to wait before trying again', schema: { type: 'string', pattern: '^\\d+$' } },
};

const parameters: Record<ParameterName, Record<string, unknown>> = {
  IdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description: 'The same key and body again: the same answer, nothing done twice. Keys are scoped to the function key that sends them.',
    schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' },
  },
  DryRun: { name: 'dryRun', in: 'query', required: false, description: '`true`: answer 200 with the audience; do nothing', schema: { type: 'string', enum: ['true', 'false'] } },
  PageSize: { name: 'pageSize', in: 'query', required: false, description: 'Recipient rows per page', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
  StatusContinuationToken: { name: 'continuationToken', in: 'query', required: false, description: 'From the previous page', schema: { type: 'string' } },
  DeadLetterNotificationId: { name: 'notificationId', in: 'query', required: false, description: 'Only the letters of this notification', schema: { type: 'string', pattern: '^[a-z0-9]{1,64}$' } },
  DeadLetterListLimit: { name: 'limit', in: 'query', required: false, description: `Letters per page (\`pageSize\` is read too; default ${DEFAULT_LIST_LIMIT})`, schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT } },
  DeadLetterRedriveLimit: { name: 'limit', in: 'query', required: false, description: `Letters redriven per call (\`pageSize\` is read too; default ${DEFAULT_REDRIVE_LIMIT})`, schema: { type: 'integer', minimum: 1, maximum: MAX_REDRIVE_LIMIT } },
  DeadLetterContinuationToken: { name: 'continuationToken', in: 'query', required: false, description: 'From the previous answer', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,2000}$' } },
};

const securitySchemes = {
  functionKeyHeader: { type: 'apiKey', in: 'header', name: 'x-functions-key', description: 'The function key (locally LOCAL_FUNCTION_KEY)' },
  functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code', description: 'The function key, in the query' },
  adminKeyHeader: { type: 'apiKey', in: 'header', name: 'x-functions-key', description: "The host's master (admin) key (locally LOCAL_ADMIN_KEY); a function key does not open these" },
  adminKeyQuery: { type: 'apiKey', in: 'query', name: 'code', description: 'The admin key, in the query' },
};

function security(level: HttpFunctionDefinition['authLevel']): readonly Record<string, readonly string[]>[] {
  switch (level) {
    case 'anonymous':
      return [];
    case 'function':
      // The admin key opens function-level endpoints too, as in Azure.
      return [{ functionKeyHeader: [] }, { functionKeyQuery: [] }, { adminKeyHeader: [] }, { adminKeyQuery: [] }];
    case 'admin':
      return [{ adminKeyHeader: [] }, { adminKeyQuery: [] }];
  }
}

function response(doc: ResponseDoc): Record<string, unknown> {
  const out: Record<string, unknown> = { description: doc.description };
  if (doc.headers !== undefined) out.headers = Object.fromEntries(doc.headers.map((h) => [headerWireName(h), { $ref: `#/components/headers/${h}` }]));
  if (doc.body === 'problem') out.content = problemContent;
  else if (doc.body === 'any') out.content = { 'application/json': { schema: {} } };
  else if (doc.body !== undefined) out.content = { 'application/json': { schema: { $ref: `#/components/schemas/${doc.body}` } } };
  return out;
}

function headerWireName(header: HeaderName): string {
  return header === 'Location' ? 'Location' : header === 'IdempotentReplayed' ? 'idempotent-replayed' : 'Retry-After';
}

const problemResponse = (description: string): ResponseDoc => ({ description, body: 'problem' });

function operation(definition: HttpFunctionDefinition, doc: OperationDoc, pathParams: readonly string[]): Record<string, unknown> {
  const responses: Record<number, ResponseDoc> = { ...doc.responses };
  // The key is checked before the handler runs: in Azure by the Functions host, whose 401 has an empty body.
  const inAzure = 'problem+json from the local host; in Azure the Functions host answers with an empty body';
  if (definition.authLevel === 'function') responses[401] ??= problemResponse(`No or a wrong function key (${inAzure})`);
  if (definition.authLevel === 'admin') responses[401] ??= problemResponse(`No or a wrong admin key; a function key does not open this (${inAzure})`);
  responses[500] ??= problemResponse('Unexpected error (logged; the detail names the invocation)');
  responses[503] ??= { description: 'A dependency did not answer: retry later (with the same Idempotency-Key)', body: 'problem', headers: ['RetryAfter'] };
  const params = [
    ...pathParams.map((name) => ({ name, in: 'path', required: true, schema: doc.pathPattern === undefined ? { type: 'string' } : { type: 'string', pattern: doc.pathPattern } })),
    ...(doc.parameters ?? []).map((p) => ({ $ref: `#/components/parameters/${p}` })),
  ];
  return {
    operationId: definition.name,
    summary: doc.summary,
    description: doc.description,
    tags: [doc.tag],
    security: security(definition.authLevel),
    ...(params.length > 0 && { parameters: params }),
    ...(doc.requestBody !== undefined && {
      requestBody: {
        required: doc.requestBody.required,
        ...(doc.requestBody.description !== undefined && { description: doc.requestBody.description }),
        content: { 'application/json': { schema: { $ref: `#/components/schemas/${doc.requestBody.schema}` } } },
      },
    }),
    responses: Object.fromEntries(
      Object.entries(responses)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([status, r]) => [status, response(r)]),
    ),
  };
}

/**
 * The OpenAPI 3.1 document of the HTTP functions in `definitions`: paths and methods from the
 * table the hosts register, security from each one's authLevel, bodies from the zod schemas.
 * Pure: the same input gives the same document, byte for byte once serialized.
 */
export function buildOpenApiDocument(definitions: readonly FunctionDefinition[]): OpenApiDocument {
  const http = definitions.filter((d): d is HttpFunctionDefinition => d.kind === 'http');
  const undocumented = http.filter((d) => operationDocs[d.name] === undefined).map((d) => d.name);
  if (undocumented.length > 0) throw new Error(`no OpenAPI description for ${undocumented.join(', ')} (shared/openapi/operations.ts)`);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const definition of http) {
    const path = `/api/${definition.route}`;
    const pathParams = [...definition.route.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
    const item = (paths[path] ??= {});
    for (const method of definition.methods) item[method.toLowerCase()] = operation(definition, operationDocs[definition.name] as OperationDoc, pathParams);
  }
  const schemas: Record<string, JsonSchema> = componentJsonSchemas();
  return {
    openapi: '3.1.0',
    info: {
      title: 'teams-notify',
      version: API_VERSION,
      summary: 'Proactive Microsoft Teams notifications through a queue-driven pipeline',
      description: `Generated from the zod schemas the handlers validate with (\`npm run openapi\`); do not edit by hand. Every 4xx/5xx body is \`application/problem+json\` (RFC 9457). Request bodies are at most ${MAX_BODY_BYTES} bytes.`,
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [
      { url: 'http://127.0.0.1:7071', description: 'The local host (`npm start`)' },
      { url: 'https://{functionApp}.azurewebsites.net', description: 'The function app in Azure', variables: { functionApp: { default: 'teams-notify' } } },
    ],
    tags: [
      { name: 'notifications', description: 'Send, watch, edit, recall, retry and cancel notifications (function key)' },
      { name: 'operations', description: 'Health, dead letters (admin key) and this document' },
      { name: 'bot', description: 'The Bot Framework messaging endpoint Teams calls' },
    ],
    paths,
    components: {
      schemas,
      parameters,
      headers,
      securitySchemes,
    },
  };
}

/** The document as `openapi.json` holds it: two-space JSON and a final newline. */
export function serializeOpenApiDocument(document: OpenApiDocument): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
