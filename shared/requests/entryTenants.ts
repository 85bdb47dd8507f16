import type { Recipient } from '../domain/recipient';
import type { FieldError } from '../http/problem';

export interface TenantPolicy {
  /** Lower-case allowed tenants; empty allows all. */
  readonly allowedTenants: readonly string[];
  /** The tenant an entry that names none means (see `defaultTenantId`); undefined when it must say. */
  readonly defaultTenantId: string | undefined;
}

export type EntryTenants = { readonly ok: true; readonly recipients: readonly Recipient[] } | { readonly ok: false; readonly errors: readonly FieldError[] };

/**
 * Group and organization entries read one tenant's directory, so each must know its tenant before
 * anything is accepted: the one it names (if allowed), or the default. The stored entry carries it,
 * so expansion never guesses. An entry that names a tenant outside the allow-list is refused here,
 * as is one that names none while several tenants are allowed.
 */
export function withEntryTenants(recipients: readonly Recipient[], policy: TenantPolicy): EntryTenants {
  const errors: FieldError[] = [];
  const out = recipients.map((recipient, index): Recipient => {
    // One spelling per tenant: its timeline, budget and address are keyed by it.
    const named = 'tenantId' in recipient ? recipient.tenantId?.toLowerCase() : undefined;
    if (named !== undefined && policy.allowedTenants.length > 0 && !policy.allowedTenants.includes(named)) {
      errors.push({ path: `recipients[${index}].tenantId`, message: 'this tenant is not in ALLOWED_TENANT_IDS' });
      return recipient;
    }
    if (recipient.type !== 'group' && recipient.type !== 'organization') return named !== undefined ? ({ ...recipient, tenantId: named } as Recipient) : recipient;
    if (named !== undefined) return { ...recipient, tenantId: named };
    if (policy.defaultTenantId === undefined) {
      errors.push({
        path: `recipients[${index}].tenantId`,
        message: policy.allowedTenants.length > 1 ? 'required when more than one tenant is allowed' : 'required: no default tenant (set ALLOWED_TENANT_IDS or MicrosoftAppTenantId)',
      });
      return recipient;
    }
    return { ...recipient, tenantId: policy.defaultTenantId };
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, recipients: out };
}
