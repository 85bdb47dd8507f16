import { ConfigError, defaultTenantId, loadConfig } from '../../shared/config';
import { notificationRequestSchema } from '../../shared/domain/notificationRequest';
import { isDirectory, isFanOut, recipientKey, type Recipient } from '../../shared/domain/recipient';
import { fieldErrors } from '../../shared/http/problem';
import { renderMessage } from '../../shared/messages/renderMessage';
import { withEntryTenants } from '../../shared/requests/entryTenants';

const T1 = 'aaaaaaaa-1111-4111-8111-000000000001';
const T2 = 'bbbbbbbb-2222-4222-8222-000000000002';
const local = { STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' };
const G1 = '0f000000-0000-4000-8000-000000000001';
const G2 = '0f000000-0000-4000-8000-000000000002';
const G3 = '0f000000-0000-4000-8000-000000000003';

function paths(body: unknown): string[] {
  const result = notificationRequestSchema.safeParse(body);
  if (result.success) throw new Error('expected a rejection');
  return fieldErrors(result.error).map((e) => e.path);
}

describe('the v1.1 audiences in the request schema', () => {
  const message = { text: 'x' };

  it('accepts group and organization entries (tenant optional), a team by Entra group id, and maxAudience', () => {
    const recipients = [
      { type: 'group', groupId: G1 },
      { type: 'group', groupId: G2, tenantId: T1 },
      { type: 'organization' },
      { type: 'organization', tenantId: T2 },
      { type: 'team', aadGroupId: G3, tenantId: T1 },
      { type: 'user', aadObjectId: 'u-1', tenantId: T1 },
    ];
    expect(notificationRequestSchema.safeParse({ recipients, message, maxAudience: 20_000 }).success).toBe(true);
  });

  it('names the field: a team with both ids or neither, a tenant that is no GUID, a maxAudience below 1', () => {
    expect(paths({ recipients: [{ type: 'team', teamId: '19:t', aadGroupId: G1 }], message })).toEqual(['recipients[0].teamId']);
    expect(paths({ recipients: [{ type: 'team', aadGroupId: '../users' }], message })).toEqual(['recipients[0].aadGroupId']);
    expect(paths({ recipients: [{ type: 'group', groupId: '..' }], message })).toEqual(['recipients[0].groupId']);
    expect(paths({ recipients: [{ type: 'team' }], message })).toEqual(['recipients[0].teamId']);
    expect(paths({ recipients: [{ type: 'team', teamId: '19:t', tenantId: T1 }], message })).toEqual(['recipients[0].tenantId']);
    expect(paths({ recipients: [{ type: 'group', groupId: G1, tenantId: 'contoso' }], message })).toEqual(['recipients[0].tenantId']);
    expect(paths({ recipients: [{ type: 'group' }], message })).toEqual(['recipients[0].groupId']);
    expect(paths({ recipients: [{ type: 'allUsers' }], message, maxAudience: 0 })).toEqual(['maxAudience']);
    expect(paths({ recipients: [{ type: 'allUsers' }], message, maxAudience: 1.5 })).toEqual(['maxAudience']);
  });

  it('treats group and organization as fan-out entries listed by Graph, keyed apart from everything else', () => {
    const group: Recipient = { type: 'group', groupId: 'ABC' };
    const organization: Recipient = { type: 'organization', tenantId: T1 };
    expect([isFanOut(group), isDirectory(group), isFanOut(organization), isDirectory(organization)]).toEqual([true, true, true, true]);
    expect(isDirectory({ type: 'allUsers' })).toBe(false);
    expect(recipientKey(group)).toBe('group:abc');
    expect(recipientKey(organization)).toBe(`organization:${T1}`);
    expect(recipientKey({ type: 'team', aadGroupId: 'G-1' })).toBe('team:aad:g-1');
    // A user's tenant does not make them someone else.
    expect(recipientKey({ type: 'user', aadObjectId: 'U', tenantId: T1 })).toBe(recipientKey({ type: 'user', aadObjectId: 'u' }));
  });
});

describe('the tenant of group and organization entries', () => {
  it('fills in the default tenant, keeps a named allowed one, and leaves other entries as they are', () => {
    const result = withEntryTenants([{ type: 'organization' }, { type: 'group', groupId: 'g', tenantId: T1.toUpperCase() }, { type: 'allUsers' }], { allowedTenants: [T1], defaultTenantId: T1 });
    expect(result).toEqual({ ok: true, recipients: [{ type: 'organization', tenantId: T1 }, { type: 'group', groupId: 'g', tenantId: T1 }, { type: 'allUsers' }] });
  });

  it('writes every named tenant in lower case, so one tenant has one timeline', () => {
    const result = withEntryTenants([{ type: 'user', aadObjectId: 'u', tenantId: T1.toUpperCase() }], { allowedTenants: [], defaultTenantId: undefined });
    expect(result).toEqual({ ok: true, recipients: [{ type: 'user', aadObjectId: 'u', tenantId: T1 }] });
  });

  it('asks for the tenant when several are allowed, and refuses one outside the allow-list', () => {
    const several = withEntryTenants([{ type: 'allUsers' }, { type: 'organization' }], { allowedTenants: [T1, T2], defaultTenantId: undefined });
    expect(several).toEqual({ ok: false, errors: [{ path: 'recipients[1].tenantId', message: 'required when more than one tenant is allowed' }] });
    const foreign = withEntryTenants([{ type: 'user', aadObjectId: 'u', tenantId: T2 }], { allowedTenants: [T1], defaultTenantId: T1 });
    expect(foreign.ok).toBe(false);
  });

  it('defaults to the only allowed tenant, else the bot\'s own; none when several are allowed', () => {
    expect(defaultTenantId({ allowedTenants: [T1], botAppTenantId: T2 })).toBe(T1);
    expect(defaultTenantId({ allowedTenants: [], botAppTenantId: T2.toUpperCase() })).toBe(T2);
    expect(defaultTenantId({ allowedTenants: [T1, T2], botAppTenantId: T1 })).toBeUndefined();
    expect(defaultTenantId({ allowedTenants: [], botAppTenantId: undefined })).toBeUndefined();
  });
});

describe('the Graph settings', () => {
  it('default to global Graph, no proactive install, a guard of 10,000', () => {
    expect(loadConfig(local)).toMatchObject({ graphEndpoint: 'https://graph.microsoft.com', graphProactiveInstall: false, audienceGuard: 10_000, graphRatePerSecond: 10 });
  });

  it('need the catalog id for proactive install, and https unless Graph is a loopback stand-in', () => {
    expect(() => loadConfig({ ...local, GRAPH_PROACTIVE_INSTALL: 'true' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...local, GRAPH_PROACTIVE_INSTALL: 'yes', TEAMS_APP_CATALOG_ID: 'c' })).toThrow(/GRAPH_PROACTIVE_INSTALL/);
    expect(() => loadConfig({ ...local, GRAPH_ENDPOINT: 'http://graph.example' })).toThrow(/GRAPH_ENDPOINT/);
    expect(loadConfig({ ...local, GRAPH_ENDPOINT: 'http://127.0.0.1:4000/', GRAPH_PROACTIVE_INSTALL: 'true', TEAMS_APP_CATALOG_ID: 'c' })).toMatchObject({
      graphEndpoint: 'http://127.0.0.1:4000',
      graphProactiveInstall: true,
      teamsAppCatalogId: 'c',
    });
  });
});

describe('the first message after a proactive install', () => {
  it('opens with why it comes and what to do, above the text or as the card\'s first block', () => {
    const text = renderMessage({ text: 'Build 42 passed' }, { appName: 'Ops', landsIn: 'personal', firstContact: true });
    expect(text.text).toMatch(/^Your organization added \*\*Ops\*\* to your Teams .* Reply \*\*help\*\* .* \*\*stop\*\* .*\n\nBuild 42 passed$/s);
    const card = renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W' } }, { appName: 'Ops', landsIn: 'channel', firstContact: true });
    const body = (card.card as { body: { text?: string }[] }).body;
    expect(body[0]?.text).toMatch(/^Your organization added \*\*Ops\*\* to this team/);
    expect(body[1]?.text).toBe('T');
    expect(renderMessage({ text: 'plain' }, { appName: 'Ops', landsIn: 'personal' }).text).toBe('plain');
  });
});
