import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { badRequest } from '../../shared/http/problem';
import { services } from '../../shared/services';
import { loadStatusPage } from '../../shared/ui/loadStatusPage';
import { renderStatusPage } from '../../shared/ui/renderStatusPage';
import { readStatusPageQuery } from '../../shared/ui/statusPageQuery';

/** GET /api/ui?code=&id=&status=&reason=: the status page (HTML; see shared/ui). */
export async function statusPage(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const query = readStatusPageQuery(request.query);
  if (!query.ok) return badRequest(query.errors);
  const svc = services();
  await svc.ready();
  const data = await loadStatusPage(query.value, svc);
  const nonce = randomBytes(16).toString('base64');
  return {
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
      // The key is in the URL: no Referer carries it elsewhere.
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    },
    body: renderStatusPage(data, nonce),
  };
}
