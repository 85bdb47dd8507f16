import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PLAYGROUND_CONFIG, startPlayground, type RunningPlayground } from '../../local/playground';
import { freePort } from '../support/freePort';
import { startGraphTestPeer, type GraphTestPeer } from '../support/graphTestPeer';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';
import { createPlaygroundDriver, type ConnectorActivity, type PlaygroundDriver } from '../support/playgroundDriver';

const teams = DEFAULT_PLAYGROUND_CONFIG;
const ALEX = teams.currentUser;
const PERSONAL_CHAT = teams.personalChat.id;
const CATALOG_APP = 'c0ffee00-0000-4000-8000-0000000000e2';

/**
 * Proactive install against the real Agents Playground: the Graph test peer stands in for Graph and
 * gives the Playground's own personal chat as the chat of the installation, so the message lands
 * in Alex's chat there; the Playground then sends the install activities Teams sends after a Graph
 * install, and the bot must not welcome on top of the notification.
 */
describe('proactive install through Graph, delivered in the Agents Playground', () => {
  let pipeline: TestPipeline;
  let playground: RunningPlayground;
  let driver: PlaygroundDriver;
  let graph: GraphTestPeer;
  let workDir: string;

  beforeAll(async () => {
    graph = await startGraphTestPeer({ chatIdFor: (userId) => (userId === ALEX.aadObjectId ? PERSONAL_CHAT : `19:${userId}_app@unq.gbl.spaces`) });
    graph.addUsers([{ id: ALEX.aadObjectId, displayName: ALEX.name }]);
    graph.addTeam({ groupId: teams.team.aadGroupId, primaryChannelId: teams.team.id, displayName: teams.team.name });
    pipeline = await startTestPipeline({
      env: { GRAPH_ENDPOINT: graph.url, GRAPH_PROACTIVE_INSTALL: 'true', TEAMS_APP_CATALOG_ID: CATALOG_APP, ALLOWED_TENANT_IDS: teams.tenantId },
    });
    pipeline.startWorker();
    workDir = mkdtempSync(join(tmpdir(), 'teams-notify-graph-e2e-'));
    playground = await startPlayground({ port: await freePort(), botEndpoint: `${pipeline.host.url}/api/messages`, cwd: workDir });
    driver = createPlaygroundDriver(playground);
    // What the bot would know of the tenant from any earlier activity there: where its connector is.
    await pipeline.services.conversations.saveTenantAddress({ serviceUrl: playground.serviceUrl, tenantId: teams.tenantId, botId: teams.bot.id });
  }, 60_000);
  afterAll(async () => {
    await playground?.stop();
    await pipeline?.stop();
    await graph?.close();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  async function send(body: Record<string, unknown>): Promise<{ status: string; recipients: { status: string; conversationId?: string }[] }> {
    const res = await pipeline.api('/api/notifications', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    return eventually(async () => {
      const status = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as { status: string; recipients: { status: string; conversationId?: string }[] };
      return status.status === 'completed' ? status : undefined;
    }, 30_000, `notification ${id}`);
  }

  const inChat = async (conversationId: string): Promise<ConnectorActivity[]> =>
    (await driver.connectorActivities()).filter((a) => a.conversationId === conversationId || a.conversationId?.startsWith(`${conversationId};`));
  const cardText = (a: ConnectorActivity | undefined): string => `${a?.text ?? ''}${JSON.stringify(a?.attachments ?? [])}`;

  it('Alex, who never installed the app, gets one message saying why; the install events that follow add no welcome', async () => {
    const status = await send({
      recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }],
      message: { template: 'notification', data: { title: 'Laptop refresh', whatHappened: 'Your new laptop is ready for pickup.', triggeredBy: 'IT Service Desk' } },
    });
    expect(status.recipients[0]).toMatchObject({ status: 'delivered', conversationId: PERSONAL_CHAT });
    expect(graph.callsTo('installForUser', ALEX.aadObjectId)).toHaveLength(1);
    const sent = await inChat(PERSONAL_CHAT);
    expect(sent).toHaveLength(1);
    expect(cardText(sent[0])).toContain('Your organization added');
    expect(cardText(sent[0])).toContain('Laptop refresh');

    // The Playground sends installationUpdate and conversationUpdate, as Teams does after the install.
    await driver.install(PERSONAL_CHAT);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const after = await inChat(PERSONAL_CHAT);
    expect(after.filter((a) => cardText(a).includes('Welcome to'))).toHaveLength(0);
    expect(after).toHaveLength(1);
  });

  it('installs the app in the team named by its Entra group id and posts in General, saying why', async () => {
    const status = await send({ recipients: [{ type: 'team', aadGroupId: teams.team.aadGroupId }], message: { text: 'The cafeteria opens at 11 today.' } });
    expect(status.recipients[0]?.status).toBe('delivered');
    expect(graph.callsTo('installInTeam', teams.team.aadGroupId)).toHaveLength(1);
    const posts = await inChat(teams.team.id);
    expect(posts.map((p) => p.text)).toEqual([expect.stringMatching(/^Your organization added \*\*.+\*\* to this team[\s\S]*The cafeteria opens at 11 today\.$/)]);
  });
});
