import { randomUUID } from 'node:crypto';
import type { RecipientStatus } from '../../shared/domain/outcome';
import { BotbuilderTeamsSender } from '../../shared/teams/botbuilder/botbuilderTeamsSender';
import { createCloudAdapter } from '../../shared/teams/botbuilder/cloudAdapter';
import { startBotFrameworkAuthPeer, type BotFrameworkAuthPeer } from '../support/botFrameworkAuthPeer';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

const APP_ID = '11111111-2222-3333-4444-555555555555';
const TENANT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const FOREIGN = 'https://evil.example/';

interface StatusBody {
  status: string;
  recipients: { status: RecipientStatus; reason?: string; detail?: string }[];
}

/** A user's message in their personal chat (no text: no command, so no reply either). */
function message(serviceUrl: string) {
  const user = randomUUID();
  return {
    type: 'message',
    id: randomUUID(),
    channelId: 'msteams',
    serviceUrl,
    from: { id: `29:${user}`, aadObjectId: user },
    recipient: { id: `28:${APP_ID}` },
    conversation: { id: `a:${user}`, conversationType: 'personal', tenantId: TENANT },
    channelData: { tenant: { id: TENANT } },
  };
}

async function storedReferences(pipeline: TestPipeline): Promise<unknown[]> {
  const rows: unknown[] = [];
  for await (const row of pipeline.services.tables.client('conversations').listEntities()) rows.push(row);
  return rows;
}

function postActivity(pipeline: TestPipeline, body: object, authorization?: string): Promise<Response> {
  return pipeline.api('/api/messages', {
    method: 'POST',
    key: null,
    headers: { 'content-type': 'application/json', ...(authorization !== undefined && { authorization }) },
    body: JSON.stringify(body),
  });
}

describe('trust stops at Teams, with an app id: only https on Teams\' hosts', () => {
  let peer: BotFrameworkAuthPeer;
  let connector: FakeConnector;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    peer = await startBotFrameworkAuthPeer();
    connector = await startFakeConnector();
    pipeline = await startTestPipeline({
      env: { MicrosoftAppId: APP_ID, MicrosoftAppType: 'UserAssignedMSI', MicrosoftAppTenantId: TENANT, BotOpenIdMetadata: peer.metadataUrl, SEND_RATE_PER_SECOND: '1000' },
      // A sender that would reach the loopback connector (no app id, so its own guard allows
      // loopback): only the worker's check stands between a stored foreign reference and a call.
      sender: new BotbuilderTeamsSender(createCloudAdapter({}), { botAppId: '', requestTimeoutMs: 1500 }),
    });
    pipeline.startWorker();
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
    await peer.close();
  });
  beforeEach(() => connector.reset());

  it('refuses an authenticated activity naming a foreign or loopback serviceUrl: 403 problem, nothing stored', async () => {
    for (const serviceUrl of [FOREIGN, 'https://smba.trafficmanager.net.evil.example/amer/', connector.serviceUrl]) {
      const activity = message(serviceUrl);
      // A token that is good in every other way, issued for that serviceUrl.
      const response = await postActivity(pipeline, activity, `Bearer ${peer.token({ aud: APP_ID, serviceurl: serviceUrl })}`);
      expect(response.status).toBe(403);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(await response.text()).not.toContain('evil.example');
    }
    expect(await storedReferences(pipeline)).toEqual([]);
  });

  it('a javascript: serviceUrl never gets past the edge', async () => {
    const activity = message('javascript:alert(1)');
    const response = await postActivity(pipeline, activity, `Bearer ${peer.token({ aud: APP_ID, serviceurl: activity.serviceUrl })}`);
    expect(response.status).toBe(400);
    expect(await storedReferences(pipeline)).toEqual([]);
  });

  it('never calls a stored reference whose serviceUrl is not Teams\': the recipient fails untrusted-service-url', async () => {
    // References stored before this check existed (or by hand): a foreign host and, with an app id, loopback.
    const users = [FOREIGN, connector.serviceUrl].map((serviceUrl, i) => ({
      serviceUrl,
      tenantId: TENANT,
      botId: `28:${APP_ID}`,
      userId: `29:stored-${i}-${randomUUID()}`,
      aadObjectId: randomUUID(),
      personalConversationId: `a:stored-${i}-${randomUUID()}`,
      installed: true,
      hasPersonalApp: true,
      updatedAt: new Date().toISOString(),
    }));
    for (const user of users) await pipeline.services.conversations.saveUser(user);
    const teamId = `19:${randomUUID()}@thread.tacv2`;
    await pipeline.services.conversations.saveTeam({ teamId, generalChannelId: teamId, serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: `28:${APP_ID}`, installed: true, updatedAt: new Date().toISOString() });

    const res = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        recipients: [...users.map((u) => ({ type: 'user', aadObjectId: u.aadObjectId })), { type: 'team', teamId }, { type: 'channel', teamId, channelId: '19:other@thread.tacv2' }],
        message: { text: 'Payroll is ready' },
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const done = await eventually(async () => {
      const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as StatusBody;
      return body.status === 'completed' ? body : undefined;
    }, 30_000, 'the notification to complete');

    expect(done.recipients).toHaveLength(4);
    for (const recipient of done.recipients) {
      expect(recipient).toMatchObject({ status: 'failed', reason: 'untrusted-service-url' });
      expect(recipient.detail).toMatch(/not sent: the serviceUrl/);
    }
    expect(connector.calls).toEqual([]);
  });
});

describe('trust stops at Teams, without an app id (local runs): Teams\' hosts and loopback', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });
  afterAll(async () => {
    await pipeline.stop();
  });

  it('refuses an activity naming a foreign serviceUrl (403, nothing stored) and takes one from loopback, as the Playground sends', async () => {
    const foreign = await postActivity(pipeline, message(FOREIGN));
    expect(foreign.status).toBe(403);
    expect(await storedReferences(pipeline)).toEqual([]);

    const local = message('http://127.0.0.1:56000/_connector');
    expect((await postActivity(pipeline, local)).status).toBe(200);
    expect(await pipeline.services.conversations.findUser({ type: 'user', userId: local.from.id })).toMatchObject({ serviceUrl: local.serviceUrl, installed: true });
  });
});

describe('the connector clients refuse a foreign serviceUrl themselves, for every sender', () => {
  const sender = new BotbuilderTeamsSender(createCloudAdapter({}), { botAppId: '', requestTimeoutMs: 5_000 });
  const at = { serviceUrl: FOREIGN, tenantId: TENANT, botId: `28:${APP_ID}` };

  it('answers rejected (UntrustedServiceUrl) without a request: a request would have failed as transient (no such host)', async () => {
    const sent = await sender.send({ ...at, conversationId: 'a:chat', conversationType: 'personal' }, { text: 'hi' });
    expect(sent).toMatchObject({ kind: 'rejected' });
    expect(sent.kind === 'rejected' && sent.detail).toContain('UntrustedServiceUrl');
    const created = await sender.createPersonalConversation(at, '29:someone');
    expect(created).toMatchObject({ kind: 'rejected' });
    const edited = await sender.updateMessage({ ...at, conversationId: 'a:chat', conversationType: 'personal' }, '1', { text: 'edited' });
    expect(edited).toMatchObject({ kind: 'rejected' });
  });
});

