import { randomUUID } from 'node:crypto';
import { startBotFrameworkAuthPeer, type BotFrameworkAuthPeer } from '../support/botFrameworkAuthPeer';
import { startTestPipeline, type TestPipeline } from '../support/pipeline';

const APP_ID = '11111111-2222-3333-4444-555555555555';
const APP_TENANT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const SERVICE_URL = 'https://smba.trafficmanager.net/amer/';

/**
 * The bot endpoint with an app id, as in Azure, under both app types the Bicep can deploy: the
 * request goes through the local host, the real services and botbuilder's token check, against a
 * loopback stand-in for login.botframework.com (botbuilder's `BotOpenIdMetadata` setting). A
 * token Teams would send is taken, so each refusal below is the token's doing.
 */
describe.each([
  ['UserAssignedMSI', { MicrosoftAppType: 'UserAssignedMSI' }],
  ['SingleTenant', { MicrosoftAppType: 'SingleTenant', MicrosoftAppPassword: 'not-a-real-secret' }],
])('Bot Framework token check (MicrosoftAppType=%s)', (_type, appSettings) => {
  let peer: BotFrameworkAuthPeer;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    peer = await startBotFrameworkAuthPeer();
    pipeline = await startTestPipeline({
      env: { MicrosoftAppId: APP_ID, MicrosoftAppTenantId: APP_TENANT, BotOpenIdMetadata: peer.metadataUrl, ...appSettings },
    });
  });
  afterAll(async () => {
    await pipeline.stop();
    await peer.close();
  });

  /** A user's message in their personal chat, as Teams posts it; with no text it is no command, so the bot answers nothing and calls no connector. */
  function activity(serviceUrl = SERVICE_URL) {
    const user = randomUUID();
    return {
      type: 'message',
      id: randomUUID(),
      channelId: 'msteams',
      serviceUrl,
      from: { id: `29:${user}`, aadObjectId: user, name: 'Megan Bowen' },
      recipient: { id: `28:${APP_ID}` },
      conversation: { id: `a:${user}`, conversationType: 'personal', tenantId: APP_TENANT },
      channelData: { tenant: { id: APP_TENANT } },
    };
  }

  async function post(body: object, authorization?: string): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (authorization !== undefined) headers.authorization = authorization;
    return pipeline.api('/api/messages', { method: 'POST', key: null, headers, body: JSON.stringify(body) });
  }

  /** Every row the bot keeps about who and where it can message. */
  async function storedReferences(): Promise<unknown[]> {
    const rows: unknown[] = [];
    for await (const row of pipeline.services.tables.client('conversations').listEntities()) rows.push(row);
    return rows;
  }

  async function expectRefused(response: Response): Promise<void> {
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const body = await response.text();
    // No botbuilder or jsonwebtoken text reaches the caller.
    expect(body).not.toMatch(/signature|jwt|Unauthorized Access|botframework|stack/i);
    expect(await storedReferences()).toEqual([]);
  }

  it('refuses an activity without an Authorization header, before fetching any signing key', async () => {
    const before = peer.requests;
    await expectRefused(await post(activity()));
    await expectRefused(await post(activity(), ''));
    expect(peer.requests).toBe(before);
  });

  it('refuses what is not a bearer token at all', async () => {
    await expectRefused(await post(activity(), 'Bearer not-a-token'));
    await expectRefused(await post(activity(), `Basic ${Buffer.from('user:pass').toString('base64')}`));
  });

  it('refuses a forged token: right claims and key id, signed with a key that is not the published one', async () => {
    const a = activity();
    await expectRefused(await post(a, `Bearer ${peer.token({ aud: APP_ID, serviceurl: a.serviceUrl }, { signer: 'forged' })}`));
    await expectRefused(await post(a, `Bearer ${peer.token({ aud: APP_ID, serviceurl: a.serviceUrl }, { signer: 'forged', kid: 'unknown-key' })}`));
    // Shaped as an Entra (emulator/skill) token of the bot's own tenant: checked against the stand-in's keys too, never a network call.
    const entra = { aud: APP_ID, serviceurl: a.serviceUrl, iss: `https://sts.windows.net/${APP_TENANT}/`, tid: APP_TENANT, ver: '1.0', appid: APP_ID };
    await expectRefused(await post(a, `Bearer ${peer.token(entra, { signer: 'forged' })}`));
  });

  it('refuses an expired token, one for another bot, one from another issuer, and one for another serviceUrl', async () => {
    const a = activity();
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(await post(a, `Bearer ${peer.token({ aud: APP_ID, serviceurl: a.serviceUrl, exp: now - 3600, nbf: now - 7200 })}`));
    await expectRefused(await post(a, `Bearer ${peer.token({ aud: '99999999-2222-3333-4444-555555555555', serviceurl: a.serviceUrl })}`));
    await expectRefused(await post(a, `Bearer ${peer.token({ aud: APP_ID, serviceurl: a.serviceUrl, iss: 'https://login.evil.example' })}`));
    await expectRefused(await post(a, `Bearer ${peer.token({ aud: APP_ID, serviceurl: 'https://smba.trafficmanager.net/emea/' })}`));
  });

  it('takes a token signed with the published key, and stores the sender (so the refusals above are the token\'s doing)', async () => {
    const a = activity();
    const response = await post(a, `Bearer ${peer.token({ aud: APP_ID, serviceurl: a.serviceUrl })}`);
    expect(response.status).toBe(200);
    expect(peer.requests).toBeGreaterThan(0);
    expect(await pipeline.services.conversations.findUser({ type: 'user', userId: a.from.id })).toMatchObject({
      serviceUrl: SERVICE_URL,
      tenantId: APP_TENANT,
      personalConversationId: a.conversation.id,
      installed: true,
    });
  });
});

describe('Bot Framework token check while the signing keys cannot be loaded', () => {
  let peer: BotFrameworkAuthPeer;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    peer = await startBotFrameworkAuthPeer({ unavailable: true });
    pipeline = await startTestPipeline({ env: { MicrosoftAppId: APP_ID, MicrosoftAppTenantId: APP_TENANT, MicrosoftAppType: 'UserAssignedMSI', BotOpenIdMetadata: peer.metadataUrl } });
  });
  afterAll(async () => {
    await pipeline.stop();
    await peer.close();
  });

  it('answers 503 (try again later), not 401 and not 500: the dependency failed, not the caller', async () => {
    const user = randomUUID();
    const serviceUrl = SERVICE_URL;
    const activity = {
      type: 'message',
      id: randomUUID(),
      channelId: 'msteams',
      serviceUrl,
      from: { id: `29:${user}`, aadObjectId: user },
      recipient: { id: `28:${APP_ID}` },
      conversation: { id: `a:${user}`, conversationType: 'personal', tenantId: APP_TENANT },
      channelData: { tenant: { id: APP_TENANT } },
    };
    const response = await pipeline.api('/api/messages', {
      method: 'POST',
      key: null,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${peer.token({ aud: APP_ID, serviceurl: serviceUrl })}` },
      body: JSON.stringify(activity),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(peer.requests).toBeGreaterThan(0);
    expect(await pipeline.services.conversations.findUser({ type: 'user', userId: activity.from.id })).toBeUndefined();
  });
});
