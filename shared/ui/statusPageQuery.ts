import type { FieldError } from '../http/problem';
import type { RecipientStatus } from '../domain/outcome';
import type { StatusPageQuery } from './loadStatusPage';

const STATUSES: readonly string[] = ['pending', 'delivered', 'failed', 'skipped', 'recalled'] satisfies readonly RecipientStatus[];

/** `?code=&id=&status=&reason=`; an empty filter field (the form's "any") is no filter. */
export function readStatusPageQuery(query: URLSearchParams): { ok: true; value: StatusPageQuery } | { ok: false; errors: FieldError[] } {
  const id = query.get('id') || undefined;
  const status = query.get('status') || undefined;
  const reason = query.get('reason') || undefined;
  const errors: FieldError[] = [];
  if (id !== undefined && !/^[a-z0-9]{1,64}$/.test(id)) errors.push({ path: 'query:id', message: 'not a notification id' });
  if (status !== undefined && !STATUSES.includes(status)) errors.push({ path: 'query:status', message: `one of ${STATUSES.join(', ')}` });
  if (reason !== undefined && !/^[a-z-]{1,64}$/.test(reason)) errors.push({ path: 'query:reason', message: 'not a failure reason' });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      code: query.get('code') ?? '',
      ...(id !== undefined && { id }),
      filter: { ...(status !== undefined && { status: status as RecipientStatus }), ...(reason !== undefined && { reason }) },
    },
  };
}
