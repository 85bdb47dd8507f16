import type { FunctionDefinition, HttpHandler } from '../definitions';
import { buildOpenApiDocument, serializeOpenApiDocument } from '../../shared/openapi/openApiDocument';

/**
 * GET /api/openapi.json (anonymous): the OpenAPI 3.1 document of this API, built from the same
 * function table the host serves (passed lazily: the table holds this handler), once per process.
 */
export function openApi(definitions: () => readonly FunctionDefinition[]): HttpHandler {
  let document: string | undefined;
  return async () => {
    document ??= serializeOpenApiDocument(buildOpenApiDocument(definitions()));
    return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' }, body: document };
  };
}
