/**
 * Proof that the Agents Playground can be driven from tests: a tiny botbuilder bot (no app id, no auth)
 * behind a node http server, the Playground pointing at it, and the helpers in test/support.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  TeamsInfo,
  TurnContext,
  type Activity,
  type ConversationReference,
  type Response as BotResponse,
} from 'botbuilder';
import type { ConnectorClient } from 'botframework-connector'; // botbuilder's own dependency (types only)
import { DEFAULT_PLAYGROUND_CONFIG, startPlayground, type RunningPlayground } from '../../local/playground';
import { createPlaygroundDriver, waitFor, type PlaygroundDriver } from '../support/playgroundDriver';

const cfg = DEFAULT_PLAYGROUND_CONFIG;
const TEAM_ID = cfg.team.id;
const ANNOUNCEMENTS_ID = cfg.team.channels[0]?.id ?? '';

/** A minimal Express-like response over node's ServerResponse: all `CloudAdapter.process` needs. */
function responseShim(res: ServerResponse): BotResponse {
  const shim: BotResponse = {
    socket: res.socket,
    status(code: number) {
      res.statusCode = code;
      return shim;
    },
    header(name: string, value: unknown) {
      res.setHeader(name, String(value));
      return shim;
    },
    send(body?: unknown) {
      if (body === undefined || body === null) return shim;
      if (typeof body === 'string' || Buffer.isBuffer(body)) {
        res.write(body);
      } else {
        if (!res.headersSent) res.setHeader('content-type', 'application/json');
        res.write(JSON.stringify(body));
      }
      return shim;
    },
    end() {
      res.end();
      return shim;
    },
  };
  return shim;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Agents Playground driven from tests', () => {
  let workDir: string;
  let playground: RunningPlayground;
  let driver: PlaygroundDriver;
  let botServer: Server;
  const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
  const received: Partial<Activity>[] = [];
  const references = new Map<string, Partial<ConversationReference>>();
  const turnErrors: unknown[] = [];

  adapter.onTurnError = async (_context, error) => {
    turnErrors.push(error);
  };

  async function logic(context: TurnContext): Promise<void> {
    const activity = context.activity;
    received.push(activity);
    references.set(activity.conversation.id, TurnContext.getConversationReference(activity));
    if (activity.type === 'installationUpdate' && activity.action === 'add') {
      await context.sendActivity('hello');
    } else if (activity.type === 'message') {
      await context.sendActivity(activity.value ? `got ${JSON.stringify(activity.value)}` : `echo: ${activity.text}`);
    } else if (activity.type === 'invoke') {
      await context.sendActivity({ type: 'invokeResponse', value: { status: 200, body: { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: 'done' } } });
    }
  }

  const receivedOf = (type: string, conversationId: string, action?: string) =>
    received.find((a) => a.type === type && a.conversation?.id === conversationId && (!action || a.action === action));

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'playground-e2e-'));
    botServer = createServer((req, res) => {
      void (async () => {
        if (req.method !== 'POST' || req.url !== '/api/messages') {
          res.statusCode = req.method === 'GET' ? 200 : 404; // the Playground's UI probes the endpoint with GET
          res.end();
          return;
        }
        const body = await readJson(req);
        // CloudAdapter.process needs req.{method, headers, body (parsed object)} and res.{status, header, send, end}.
        await adapter.process({ method: req.method, headers: req.headers, body }, responseShim(res), logic);
      })().catch((err: unknown) => {
        turnErrors.push(err);
        if (!res.headersSent) res.statusCode = 500;
        res.end();
      });
    });
    const botPort = await listen(botServer);
    playground = await startPlayground({
      port: await freePort(),
      botEndpoint: `http://127.0.0.1:${botPort}/api/messages`,
      cwd: workDir,
    });
    driver = createPlaygroundDriver(playground);
  });

  afterAll(async () => {
    await playground?.stop();
    await new Promise<void>((resolve) => (botServer ? botServer.close(() => resolve()) : resolve()));
    botServer?.closeAllConnections();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(turnErrors).toEqual([]);
  });

  it('uses the generated mock config', async () => {
    const config = await driver.testConfig();
    expect(config.tenantId).toBe(cfg.tenantId);
    expect(config.currentUser.id).toBe(cfg.currentUser.id);
    expect(config.personalChat.id).toBe(cfg.personalChat.id);
    expect(config.teams[0]?.id).toBe(TEAM_ID);
    expect(config.teams[0]?.channels.map((c) => c.id)).toEqual([TEAM_ID, ANNOUNCEMENTS_ID]);
    expect(playground.connectorUrl).toBe(`${playground.url}/_connector`);
  });

  it('install: the bot receives installationUpdate and conversationUpdate and its reply reaches the connector', async () => {
    const personalId = await driver.personalConversationId();
    expect(personalId).toBe(cfg.personalChat.id);
    await driver.install(personalId);

    const install = await waitFor(() => receivedOf('installationUpdate', personalId, 'add'), 10_000, 'installationUpdate');
    const update = await waitFor(() => receivedOf('conversationUpdate', personalId), 10_000, 'conversationUpdate');
    expect(install).toMatchObject({
      channelId: 'msteams',
      serviceUrl: playground.serviceUrl,
      from: { id: cfg.currentUser.id, aadObjectId: cfg.currentUser.aadObjectId },
      recipient: { id: cfg.bot.id, name: cfg.bot.name },
      conversation: { id: personalId, conversationType: 'personal', tenantId: cfg.tenantId },
      channelData: { tenant: { id: cfg.tenantId } },
    });
    expect(update.membersAdded?.map((m) => m.id)).toEqual([cfg.currentUser.id, cfg.bot.id]);

    const hello = await waitFor(
      async () => (await driver.connectorActivities()).find((a) => a.conversationId === personalId && a.text === 'hello'),
      10_000,
      'hello on the connector',
    );
    // Inside a turn, sendActivity replies: POST .../activities/{incoming activity id}.
    expect(hello).toMatchObject({ type: 'message', operation: 'reply', statusCode: 201, from: { id: cfg.bot.id } });
    expect(hello.responseId).toEqual(expect.any(String));
    // Both directions are in the recording.
    expect((await driver.activitiesToBot()).some((a) => a.type === 'installationUpdate')).toBe(true);
  });

  it('proactive: continueConversationAsync with an empty app id posts to the Playground (no auth)', async () => {
    const reference = references.get(cfg.personalChat.id);
    expect(reference?.serviceUrl).toBe(playground.serviceUrl);
    let id: string | undefined;
    await adapter.continueConversationAsync('', reference!, async (context) => {
      id = (await context.sendActivity('proactive'))?.id;
    });
    expect(id).toEqual(expect.any(String));
    const activities = await driver.connectorActivities();
    expect(activities.find((a) => a.text === 'proactive')).toMatchObject({ conversationId: cfg.personalChat.id, responseId: id });

    // update works; delete is not implemented by the Playground (501).
    await adapter.continueConversationAsync('', reference!, async (context) => {
      await context.updateActivity({ type: 'message', id, text: 'proactive (edited)' });
      await expect(context.deleteActivity(id!)).rejects.toMatchObject({ statusCode: 501 });
    });
    expect((await driver.connectorActivities()).find((a) => a.operation === 'update')).toMatchObject({
      text: 'proactive (edited)',
      statusCode: 200,
    });
  });

  it('createConversationAsync for the current user gives the personal chat', async () => {
    let conversationId: string | undefined;
    await adapter.createConversationAsync(
      '',
      'msteams',
      playground.serviceUrl,
      '',
      {
        isGroup: false,
        bot: { id: cfg.bot.id, name: cfg.bot.name },
        members: [{ id: cfg.currentUser.id, name: cfg.currentUser.name }],
        tenantId: cfg.tenantId,
        channelData: { tenant: { id: cfg.tenantId } },
      } as never,
      async (context) => {
        conversationId = context.activity.conversation.id;
        await context.sendActivity('1:1 created');
      },
    );
    expect(conversationId).toBe(cfg.personalChat.id);
    expect((await driver.connectorActivities()).some((a) => a.text === '1:1 created')).toBe(true);
  });

  it('a user message, a card submit and an invoke reach the bot', async () => {
    const personalId = cfg.personalChat.id;
    const { messageId } = await driver.sendUserMessage(personalId, 'help');
    expect(messageId).toEqual(expect.any(String));
    const message = await waitFor(() => received.find((a) => a.type === 'message' && a.text === 'help'), 10_000, 'message');
    expect(message).toMatchObject({ from: { id: cfg.currentUser.id, aadObjectId: cfg.currentUser.aadObjectId, name: cfg.currentUser.name } });
    await waitFor(async () => (await driver.connectorActivities()).some((a) => a.text === 'echo: help'), 10_000, 'echo');

    // The bot posts a card; the user presses Action.Submit on it.
    const reference = references.get(personalId)!;
    let cardId = '';
    await adapter.continueConversationAsync('', reference, async (context) => {
      cardId = (await context.sendActivity({
        attachments: [
          {
            contentType: 'application/vnd.microsoft.card.adaptive',
            content: {
              type: 'AdaptiveCard',
              version: '1.5',
              body: [{ type: 'TextBlock', text: 'Approve?' }],
              actions: [{ type: 'Action.Submit', title: 'Yes', data: { verb: 'approve' } }],
            },
          },
        ],
      }))!.id;
    });
    await driver.submitCard(personalId, cardId, { verb: 'approve' });
    const submit = await waitFor(() => received.find((a) => a.type === 'message' && a.value), 10_000, 'submit');
    expect(submit).toMatchObject({ replyToId: cardId, value: { verb: 'approve' }, channelData: { source: { name: 'message' } } });
    expect(submit.text).toBeUndefined();

    const invokeResponse = await driver.invokeCardAction(personalId, cardId, {
      action: { type: 'Action.Execute', verb: 'approve', data: {} },
      trigger: 'manual',
    });
    expect(received.find((a) => a.type === 'invoke')).toMatchObject({ name: 'adaptiveCard/action', replyToId: cardId });
    expect(invokeResponse).toMatchObject({ value: 'done' });
  });

  it('team install, channel post, new thread, thread reply, roster, uninstall', async () => {
    await driver.install(TEAM_ID);
    const install = await waitFor(() => receivedOf('installationUpdate', TEAM_ID, 'add'), 10_000, 'team install');
    expect(install).toMatchObject({
      conversation: { id: TEAM_ID, isGroup: true, conversationType: 'channel', tenantId: cfg.tenantId },
      channelData: { team: { id: TEAM_ID, name: cfg.team.name, aadGroupId: cfg.team.aadGroupId }, channel: { id: TEAM_ID } },
    });
    const teamReference = TurnContext.getConversationReference(install as Activity);

    // The team id as conversation id posts to General.
    await adapter.continueConversationAsync('', teamReference, async (context) => {
      await context.sendActivity('to General');

      // TeamsInfo.sendMessageToTeamsChannel needs a bot app id with CloudAdapter; call createConversationAsync directly.
      await expect(TeamsInfo.sendMessageToTeamsChannel(context, { type: 'message', text: 'x' } as Activity, ANNOUNCEMENTS_ID, '')).rejects.toThrow(
        /createConnectorClient/,
      );

      const paged = await TeamsInfo.getPagedMembers(context, 2); // the Playground ignores page sizes below 50
      expect(paged.members.map((m) => m.id)).toEqual(expect.arrayContaining([cfg.currentUser.id, ...cfg.users.map((u) => u.id)]));
      expect(paged.continuationToken).toBeUndefined();
      const pagedTeam = await TeamsInfo.getPagedTeamMembers(context, TEAM_ID);
      expect(pagedTeam.members).toHaveLength(6);
      const member = await TeamsInfo.getMember(context, cfg.users[1].id);
      expect(member).toMatchObject({ id: cfg.users[1].id, aadObjectId: cfg.users[1].aadObjectId, userPrincipalName: cfg.users[1].userPrincipleName });
      await expect(TeamsInfo.getMember(context, '29:nobody')).rejects.toMatchObject({ statusCode: 404 });
      const details = await TeamsInfo.getTeamDetails(context, TEAM_ID);
      expect(details).toMatchObject({ id: TEAM_ID, aadGroupId: cfg.team.aadGroupId, channelCount: 2, memberCount: 6 });
      const channels = await TeamsInfo.getTeamChannels(context, TEAM_ID);
      expect(channels.map((c) => c.id)).toEqual([TEAM_ID, ANNOUNCEMENTS_ID]);
    });

    let threadId = '';
    await adapter.createConversationAsync(
      '',
      'msteams',
      playground.serviceUrl,
      '',
      {
        isGroup: true,
        channelData: { channel: { id: ANNOUNCEMENTS_ID } },
        activity: { type: 'message', text: 'thread root' },
        tenantId: cfg.tenantId,
      } as never,
      async (context) => {
        // The CreateConversation event carries the new conversation id (also as activity.id), not the root message id.
        threadId = context.activity.conversation.id;
      },
    );
    const rootId = /;messageid=(.+)$/.exec(threadId)?.[1];
    expect(threadId).toBe(`${ANNOUNCEMENTS_ID};messageid=${rootId}`);
    await adapter.continueConversationAsync('', { ...teamReference, conversation: { ...teamReference.conversation!, id: threadId } }, async (context) => {
      await context.sendActivity('reply in thread');
    });
    const posted = await driver.connectorActivities();
    // continueConversationAsync runs the turn on a ContinueConversation event with a fresh random id, and
    // sendActivity sets replyToId to it: every proactive send is POST .../activities/{random uuid}.
    const toGeneral = posted.find((a) => a.text === 'to General');
    expect(toGeneral).toMatchObject({ conversationId: TEAM_ID, operation: 'reply', statusCode: 201 });
    expect(toGeneral?.replyToId).not.toBe(teamReference.activityId);
    // A plain POST .../activities needs the connector client itself.
    await adapter.continueConversationAsync('', teamReference, async (context) => {
      const client = context.turnState.get<ConnectorClient>(adapter.ConnectorClientKey);
      await client.conversations.sendToConversation(TEAM_ID, { type: 'message', text: 'new post in General' } as Activity);
    });
    expect((await driver.connectorActivities()).find((a) => a.text === 'new post in General')).toMatchObject({
      conversationId: TEAM_ID,
      operation: 'send',
      statusCode: 201,
    });
    expect(posted.find((a) => a.text === 'thread root')).toMatchObject({ conversationId: threadId, operation: 'create', responseId: rootId });
    expect(posted.find((a) => a.text === 'reply in thread')).toMatchObject({ conversationId: threadId, statusCode: 201 });

    // Removal: the UI's "uninstall" / "botRemoved" custom activities.
    const uninstall = await driver.lifecycle(TEAM_ID, 'uninstall');
    expect(uninstall).toMatchObject({ type: 'installationUpdate', action: 'remove' });
    await waitFor(() => receivedOf('installationUpdate', TEAM_ID, 'remove'), 10_000, 'team uninstall');
    await driver.lifecycle(TEAM_ID, 'botRemoved');
    const removed = await waitFor(
      () => received.find((a) => a.type === 'conversationUpdate' && a.membersRemoved?.some((m) => m.id === cfg.bot.id)),
      10_000,
      'botRemoved',
    );
    expect(removed.channelData).toMatchObject({ eventType: 'teamMemberRemoved', team: { id: TEAM_ID } });
    await driver.lifecycle(cfg.personalChat.id, 'uninstall');
    await waitFor(() => receivedOf('installationUpdate', cfg.personalChat.id, 'remove'), 10_000, 'personal uninstall');
  });

  it('connector errors look like the Bot Connector', async () => {
    const reference = references.get(cfg.personalChat.id)!;
    // A failure inside continueConversationAsync goes to adapter.onTurnError (which here records it) instead of rejecting.
    await adapter.continueConversationAsync('', { ...reference, conversation: { ...reference.conversation!, id: 'a:gone' } }, async (context) => {
      await context.sendActivity('x');
    });
    expect(turnErrors.splice(0)).toEqual([expect.objectContaining({ statusCode: 404, code: 'ConversationNotFound' })]);
    const calls = await driver.recordedCalls();
    const notFound = calls.find((c) => c.response.statusCode === 404 && c.request.url.includes('a%3Agone'));
    expect(notFound?.response.body).toEqual({ error: { code: 'ConversationNotFound', message: 'Conversation not found' } });
  });
});
