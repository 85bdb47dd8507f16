/**
 * Test helpers over the Agents Playground's HTTP endpoints (0.2.28; these are what its own web UI
 * calls, not a documented API). See local/playground.ts for starting it.
 *
 * Routes (from its bundled server):
 *   /_debug/ping                                         GET  -> "pong"
 *   /_debug/conversation/:id/installation                POST {} -> installationUpdate(add) + conversationUpdate(membersAdded)
 *   /_conversation/v1/conversations/:id/messages         POST {from:{id}, text, textFormat, mentions?} -> message activity to the bot
 *                                                        (in a channel or group chat only when `mentions` names the bot)
 *   /_conversation/v1/submit                             POST {conversation:{id}, from:{id}, replyToId, value} -> message with `value`
 *   /_conversation/v1/invoke                             POST {name:'adaptiveCard/action', conversation, from, replyToId, value} -> invoke
 *   /_internal/v1/testConfig                             GET  -> {config:{tenantId, bot, currentUser, users, personalChat, groupChats, teams}}
 *   /_internal/v1/customActivities/template?conversationId=&type=  GET -> activity (install|uninstall|botAdded|botRemoved|userAdded|userRemoved|channelCreated|...)
 *   /_internal/v1/customActivities                       POST activity -> sent to the bot as is
 *   /_connector/v3/...                                   the mock Bot Connector
 * There is no HTTP endpoint that lists messages; what the bot sent is read from the events recording
 * file (`--er`), which local/playground.ts always enables.
 */
import { readFile } from 'node:fs/promises';
import type { Activity } from 'botbuilder';
import { installApp, type RunningPlayground } from '../../local/playground';

/** One entry of the Playground's events recording. */
export interface RecordedCall {
  timestamp: number;
  /** 'User Application -> Microsoft 365 Agents Playground' (bot called the connector) or the reverse. */
  direction: string;
  /** `createConversation`, `message`, `getConversationPagedMembers`, `installationUpdate`, ... */
  activityName?: string;
  conversationId?: string;
  messageId?: string;
  request: { method?: string; url: string; headers?: Record<string, unknown>; body: unknown };
  response: { statusCode: number; body: unknown };
}

/** What the bot sent to the mock connector (a POST/PUT of an activity, or the activity of a createConversation). */
export interface ConnectorActivity extends Partial<Activity> {
  /** Conversation the activity was posted to (from the URL, or the id createConversation returned). */
  conversationId: string;
  /** `send` (POST .../activities), `reply` (POST .../activities/:id), `update` (PUT), `create` (POST /v3/conversations). */
  operation: 'send' | 'reply' | 'update' | 'create';
  statusCode: number;
  /** Id the connector answered with (the message id). */
  responseId?: string;
}

export const BOT_TO_PLAYGROUND = 'User Application -> Microsoft 365 Agents Playground';
export const PLAYGROUND_TO_BOT = 'Microsoft 365 Agents Playground -> User Application';

export interface PlaygroundTestConfig {
  tenantId: string;
  bot: { id: string; name: string };
  currentUser: { id: string; name: string; aadObjectId: string };
  users: { id: string; name: string; aadObjectId: string }[];
  personalChat: { id: string; name: string };
  groupChats: { id: string; name: string; members: string[] }[];
  teams: {
    id: string;
    name: string;
    aadGroupId: string;
    channels: { id: string; name: string; channelType: string }[];
    members: string[];
  }[];
}

export type CustomActivityType =
  | 'install'
  | 'uninstall'
  | 'botAdded'
  | 'botRemoved'
  | 'userAdded'
  | 'userRemoved'
  | 'channelCreated'
  | 'channelRenamed'
  | 'channelDeleted'
  | 'teamRenamed'
  | 'teamDeleted';

export class PlaygroundHttpError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${url} -> ${status} ${body.slice(0, 500)}`);
  }
}

export interface PlaygroundDriver {
  readonly url: string;
  readonly recordingFile: string;
  /** The mock data in effect (ids of tenant, users, chats, team, channels). */
  testConfig(): Promise<PlaygroundTestConfig>;
  /** The 1:1 chat id of a user, via POST /_connector/v3/conversations (default: the current user). */
  personalConversationId(userId?: string): Promise<string>;
  /** Installs the bot in a conversation: installationUpdate (add) + conversationUpdate (membersAdded) reach the bot. */
  install(conversationId: string): Promise<void>;
  /** The user types `text` in the conversation. Resolves with the message id the Playground gave it. */
  sendUserMessage(conversationId: string, text: string, fromId?: string): Promise<{ messageId: string }>;
  /**
   * The user @mentions the bot with `text`, as in a channel or group chat, where the Playground
   * (like Teams) passes a message on to the bot only when it mentions the bot. In a channel the
   * message starts a new post: `postConversationId` is its thread, where the bot's reply goes.
   * The Playground sends channel and chat messages as its current user, whatever `fromId` says.
   */
  mentionBot(conversationId: string, text: string, fromId?: string): Promise<{ messageId: string; postConversationId?: string }>;
  /** Action.Submit on a card message the bot sent (`replyToId` = that message's id): a message activity with `value`. */
  submitCard(conversationId: string, replyToId: string, value: Record<string, unknown>, fromId?: string): Promise<void>;
  /** Action.Execute: an `adaptiveCard/action` invoke; resolves with the bot's invoke response body. */
  invokeCardAction(conversationId: string, replyToId: string, value: Record<string, unknown>, fromId?: string): Promise<unknown>;
  /** The activity the Playground would send for a lifecycle event (the web UI's "custom activity" templates). */
  customActivityTemplate(conversationId: string, type: CustomActivityType): Promise<Partial<Activity>>;
  /** Sends any activity to the bot as the Playground (serviceUrl etc. as given). */
  sendCustomActivity(activity: Partial<Activity>): Promise<void>;
  /** Template + send: e.g. `lifecycle(teamId, 'uninstall')`, `lifecycle(personalId, 'uninstall')`. */
  lifecycle(conversationId: string, type: CustomActivityType): Promise<Partial<Activity>>;
  /** Every recorded call, both directions, oldest first. */
  recordedCalls(): Promise<RecordedCall[]>;
  /** What the Playground sent to the bot (installationUpdate, conversationUpdate, message, invoke ...). */
  activitiesToBot(): Promise<Partial<Activity>[]>;
  /** Activities the bot posted to the mock connector (send, reply, update, createConversation), oldest first. */
  connectorActivities(): Promise<ConnectorActivity[]>;
}

export function createPlaygroundDriver(
  playground: Pick<RunningPlayground, 'url' | 'recordingFile'>,
): PlaygroundDriver {
  const base = playground.url.replace(/\/+$/, '');

  async function request(method: string, path: string, body?: unknown): Promise<string> {
    const url = `${base}${path}`;
    const res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new PlaygroundHttpError(method, url, res.status, text);
    return text;
  }
  const json = async <T>(method: string, path: string, body?: unknown): Promise<T> =>
    JSON.parse((await request(method, path, body)) || 'null') as T;

  let configCache: PlaygroundTestConfig | undefined;
  const testConfig = async (): Promise<PlaygroundTestConfig> =>
    (configCache ??= (await json<{ config: PlaygroundTestConfig }>('GET', '/_internal/v1/testConfig')).config);
  const me = async (fromId?: string): Promise<string> => fromId ?? (await testConfig()).currentUser.id;
  const enc = encodeURIComponent;

  const customActivityTemplate = async (conversationId: string, type: CustomActivityType): Promise<Partial<Activity>> =>
    json<Partial<Activity>>(
      'GET',
      `/_internal/v1/customActivities/template?conversationId=${enc(conversationId)}&type=${enc(type)}`,
    );
  const sendCustomActivity = async (activity: Partial<Activity>): Promise<void> => {
    await request('POST', '/_internal/v1/customActivities', activity);
  };

  const recordedCalls = async (): Promise<RecordedCall[]> => {
    let text: string;
    try {
      text = await readFile(playground.recordingFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const calls: RecordedCall[] = [];
    // Entries are `JSON.stringify(entry, null, 2) + "\n---\n"`; a string value can't contain a raw newline.
    for (const chunk of text.split('\n---\n')) {
      if (!chunk.trim()) continue;
      try {
        calls.push(JSON.parse(chunk) as RecordedCall);
      } catch {
        // the last entry may be half written
      }
    }
    return calls;
  };

  return {
    url: base,
    recordingFile: playground.recordingFile,
    testConfig,

    async personalConversationId(userId) {
      const cfg = await testConfig();
      const res = await json<{ id: string }>('POST', '/_connector/v3/conversations', {
        isGroup: false,
        members: [{ id: userId ?? cfg.currentUser.id }],
        tenantId: cfg.tenantId,
      });
      return res.id;
    },

    async install(conversationId) {
      await installApp(base, conversationId);
    },

    async sendUserMessage(conversationId, text, fromId) {
      return json<{ messageId: string }>('POST', `/_conversation/v1/conversations/${enc(conversationId)}/messages`, {
        from: { id: await me(fromId) },
        text,
        textFormat: 'plain',
      });
    },

    async mentionBot(conversationId, text, fromId) {
      const bot = (await testConfig()).bot;
      const mention = `<at>${bot.name}</at>`;
      return json<{ messageId: string; postConversationId?: string }>('POST', `/_conversation/v1/conversations/${enc(conversationId)}/messages`, {
        from: { id: await me(fromId) },
        text: `${mention} ${text}`,
        textFormat: 'plain',
        mentions: [{ mentioned: { id: bot.id }, text: mention }],
      });
    },

    async submitCard(conversationId, replyToId, value, fromId) {
      await request('POST', '/_conversation/v1/submit', {
        conversation: { id: conversationId },
        from: { id: await me(fromId) },
        replyToId,
        value,
      });
    },

    async invokeCardAction(conversationId, replyToId, value, fromId) {
      return json<unknown>('POST', '/_conversation/v1/invoke', {
        name: 'adaptiveCard/action',
        conversation: { id: conversationId },
        from: { id: await me(fromId) },
        replyToId,
        value,
      });
    },

    customActivityTemplate,
    sendCustomActivity,

    async lifecycle(conversationId, type) {
      const activity = await customActivityTemplate(conversationId, type);
      await sendCustomActivity(activity);
      return activity;
    },

    recordedCalls,

    async activitiesToBot() {
      return (await recordedCalls())
        .filter((c) => c.direction === PLAYGROUND_TO_BOT)
        .map((c) => c.request.body as Partial<Activity>);
    },

    async connectorActivities() {
      const out: ConnectorActivity[] = [];
      for (const call of await recordedCalls()) {
        if (call.direction !== BOT_TO_PLAYGROUND) continue;
        const parsed = parseConnectorCall(call);
        if (parsed) out.push(parsed);
      }
      return out;
    },
  };
}

const ACTIVITY_PATH = /^\/_connector\/v3\/conversations\/([^/?]+)\/activities(?:\/([^/?]+))?\/?(?:\?.*)?$/;
const CREATE_PATH = /^\/_connector\/v3\/conversations\/?(?:\?.*)?$/;

function parseConnectorCall(call: RecordedCall): ConnectorActivity | undefined {
  const method = (call.request.method ?? 'POST').toUpperCase();
  const responseBody = (call.response.body ?? {}) as { id?: string; activityId?: string };
  const statusCode = call.response.statusCode;
  const activityMatch = ACTIVITY_PATH.exec(call.request.url);
  if (activityMatch?.[1] && (method === 'POST' || method === 'PUT')) {
    const body = (call.request.body ?? {}) as Partial<Activity>;
    const operation = method === 'PUT' ? 'update' : activityMatch[2] ? 'reply' : 'send';
    return {
      ...body,
      conversationId: decodeURIComponent(activityMatch[1]),
      operation,
      statusCode,
      responseId: responseBody.id,
    };
  }
  if (method === 'POST' && CREATE_PATH.test(call.request.url)) {
    const params = (call.request.body ?? {}) as { activity?: Partial<Activity> };
    if (!params.activity) return undefined; // a bare createConversation (1:1 chat id lookup) posts nothing
    return {
      ...params.activity,
      conversationId: responseBody.id ?? '',
      operation: 'create',
      statusCode,
      responseId: responseBody.activityId,
    };
  }
  return undefined;
}

/** Polls `probe` until it returns a truthy value (which is returned) or the time is up. */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  description = 'condition',
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${description}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
