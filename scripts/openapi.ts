/**
 * `npm run openapi`: writes openapi.json at the repo root, the OpenAPI 3.1 document generated from
 * the function table and the zod schemas (shared/openapi/openApiDocument.ts). A test fails while
 * the committed file differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { functionDefinitions } from '../functions/definitions';
import { buildOpenApiDocument, serializeOpenApiDocument } from '../shared/openapi/openApiDocument';

export const OPENAPI_FILE = join(resolve(__dirname, '..'), 'openapi.json');

if (require.main === module) {
  writeFileSync(OPENAPI_FILE, serializeOpenApiDocument(buildOpenApiDocument(functionDefinitions)));
  console.log(`wrote ${OPENAPI_FILE}`);
}
