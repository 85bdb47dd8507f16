import {
  TeamsInfo,
  type Activity,
  type CloudAdapter,
  type ConversationParameters,
  type ConversationReference,
  type TurnContext,
} from 'botbuilder';
import { classifySendFailure, type SendFailure, type SendOutcome } from '../../domain/outcome';
import type { ConnectorClient } from 'botframework-connector';
import { toActivity } from './toActivity';
import { parseRetryAfter as parseHeader } from '../../http/retryAfter';
import type {
  BotEndpointAddress,
  ChangeOutcome,
  ConversationAddress,
  CreateConversationResult,
  OutgoingMessage,
  TeamMembersPage,
  TeamsSender,
} from '../teamsSender';

const TEAMS_CHANNEL = 'msteams';

export interface BotbuilderTeamsSenderOptions {
  /** The bot's app id (empty for local development without auth). */
  readonly botAppId: string;
  /** A connector call that takes longer than this counts as a transient failure. */
  readonly requestTimeoutMs?: number;
  readonly membersPageSize?: number;
}

/**
 * The Teams sender on botbuilder's CloudAdapter: `continueConversationAsync` to send,
 * `createConversationAsync` to open 1:1 chats and channel threads, `TeamsInfo` for rosters.
 * Every connector error becomes a `SendOutcome`; nothing thrown by botbuilder leaks into the core.
 */
export class BotbuilderTeamsSender implements TeamsSender {
  private readonly timeoutMs: number;

  constructor(
    private readonly adapter: CloudAdapter,
    private readonly options: BotbuilderTeamsSenderOptions,
  ) {
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  async send(to: ConversationAddress, message: OutgoingMessage): Promise<SendOutcome> {
    return this.guard(async () => {
      const response = await this.withConnector(to, (client, context) => {
        const activity = { ...toActivity(message), from: { id: to.botId }, conversation: context.activity.conversation } as Activity;
        return client.conversations.sendToConversation(to.conversationId, activity, { abortSignal: AbortSignal.timeout(this.timeoutMs) });
      });
      return { kind: 'delivered', activityId: response.id ?? '', conversationId: to.conversationId };
    });
  }

  async createPersonalConversation(at: BotEndpointAddress, userId: string): Promise<CreateConversationResult> {
    return this.guard(async () => {
      const parameters = {
        isGroup: false,
        bot: { id: at.botId, name: '' },
        members: [{ id: userId, name: '' }],
        tenantId: at.tenantId,
        channelData: { tenant: { id: at.tenantId } },
      } as ConversationParameters;
      const conversationId = await this.create(at, parameters);
      return { kind: 'created', conversationId };
    });
  }

  async createChannelThread(at: BotEndpointAddress, channelId: string, message: OutgoingMessage): Promise<SendOutcome> {
    return this.guard(async () => {
      const parameters = {
        isGroup: true,
        bot: { id: at.botId, name: '' },
        tenantId: at.tenantId,
        channelData: { channel: { id: channelId }, tenant: { id: at.tenantId } },
        activity: toActivity(message),
      } as ConversationParameters;
      // The thread's root post is our message, so this call must be abortable like a send: a
      // deadline that only stopped waiting would let a late success post the thread twice.
      const created = await this.withConnector({ ...at, conversationId: channelId, conversationType: 'channel' }, (client) =>
        client.conversations.createConversation(parameters, { abortSignal: AbortSignal.timeout(this.timeoutMs) }),
      );
      const conversationId = created.id ?? '';
      // A thread's conversation id is "<channel id>;messageid=<root post id>".
      const activityId = created.activityId ?? /;messageid=(.+)$/.exec(conversationId)?.[1] ?? '';
      return { kind: 'delivered', activityId, conversationId };
    });
  }

  async listTeamMembers(at: BotEndpointAddress, teamId: string, continuationToken?: string): Promise<TeamMembersPage> {
    return this.guard(async () => {
      let page: TeamMembersPage | undefined;
      const to: ConversationAddress = { ...at, conversationId: teamId, conversationType: 'channel' };
      await this.adapter.continueConversationAsync(this.options.botAppId, reference(to), async (context: TurnContext) => {
        const result = await TeamsInfo.getPagedTeamMembers(context, teamId, this.options.membersPageSize ?? 100, continuationToken);
        page = {
          kind: 'members',
          members: result.members.map((m) => ({
            userId: m.id,
            // The paged roster carries Teams' `objectId`; botbuilder only maps it on other paths.
            ...((m.aadObjectId ?? (m as { objectId?: string }).objectId) !== undefined && {
              aadObjectId: m.aadObjectId ?? (m as { objectId?: string }).objectId,
            }),
            ...(m.name !== undefined && { name: m.name }),
          })),
          ...(result.continuationToken !== undefined && result.continuationToken !== null && { continuationToken: result.continuationToken }),
        };
      });
      return page ?? { kind: 'members', members: [] };
    });
  }

  async updateMessage(to: ConversationAddress, activityId: string, message: OutgoingMessage): Promise<ChangeOutcome> {
    return this.guard(async () => {
      await this.withConnector(to, (client, context) => {
        const activity = { ...toActivity(message), id: activityId, from: { id: to.botId }, conversation: context.activity.conversation } as Activity;
        return client.conversations.updateActivity(to.conversationId, activityId, activity, { abortSignal: AbortSignal.timeout(this.timeoutMs) });
      });
      return { kind: 'changed' } as const;
    });
  }

  async deleteMessage(to: ConversationAddress, activityId: string): Promise<ChangeOutcome> {
    return this.guard(async () => {
      await this.withConnector(to, (client) => client.conversations.deleteActivity(to.conversationId, activityId, { abortSignal: AbortSignal.timeout(this.timeoutMs) }));
      return { kind: 'changed' } as const;
    });
  }

  /**
   * Runs one connector call inside `continueConversationAsync`, with the connector client botbuilder
   * built for that conversation (authenticated, retries off): calling it directly, rather than
   * through `context.sendActivity`, makes a proactive message a new post instead of a reply to the
   * synthetic continuation event, and lets the request carry a deadline that really aborts it.
   */
  private async withConnector<T>(to: ConversationAddress, call: (client: ConnectorClient, context: TurnContext) => Promise<T>): Promise<T> {
    let result: { value: T } | undefined;
    await this.adapter.continueConversationAsync(this.options.botAppId, reference(to), async (context) => {
      result = { value: await call(context.turnState.get<ConnectorClient>(this.adapter.ConnectorClientKey), context) };
    });
    if (result === undefined) throw new Error('botbuilder did not run the conversation turn');
    return result.value;
  }

  private async create(at: BotEndpointAddress, parameters: ConversationParameters): Promise<string> {
    let conversationId: string | undefined;
    await this.adapter.createConversationAsync(this.options.botAppId, TEAMS_CHANNEL, at.serviceUrl, '', parameters, async (context) => {
      conversationId = context.activity.conversation.id;
    });
    if (conversationId === undefined || conversationId === '') throw new Error('createConversation returned no conversation id');
    return conversationId;
  }

  /** Runs one connector operation with a deadline, and turns whatever it throws into an outcome. */
  private async guard<T>(operation: () => Promise<T>): Promise<T | SendFailure> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<SendFailure>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'transient', detail: `no answer from the Bot Connector within ${this.timeoutMs} ms` }), this.timeoutMs);
    });
    try {
      return await Promise.race([operation(), deadline]);
    } catch (error) {
      return classifySendFailure(readConnectorError(error));
    } finally {
      clearTimeout(timer);
    }
  }
}

function reference(to: ConversationAddress): Partial<ConversationReference> {
  return {
    channelId: TEAMS_CHANNEL,
    serviceUrl: to.serviceUrl,
    bot: { id: to.botId, name: '' },
    conversation: {
      id: to.conversationId,
      tenantId: to.tenantId,
      isGroup: to.conversationType !== undefined && to.conversationType !== 'personal',
      conversationType: to.conversationType ?? 'personal',
      name: '',
    },
  };
}

/** What a failed connector call says, wherever botbuilder's HTTP stack put it. */
export function readConnectorError(error: unknown): { statusCode?: number; code?: string; retryAfterMs?: number; message: string } {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    statusCode?: unknown;
    code?: unknown;
    message?: unknown;
    body?: unknown;
    details?: unknown;
    response?: { status?: unknown; headers?: { get?: (name: string) => string | undefined | null }; bodyAsText?: unknown; parsedBody?: unknown };
  };
  const statusCode = typeof e.statusCode === 'number' ? e.statusCode : typeof e.response?.status === 'number' ? e.response.status : undefined;
  const bodyText = typeof e.response?.bodyAsText === 'string' ? e.response.bodyAsText : '';
  const body = parseBody(e.details ?? e.response?.parsedBody ?? e.body ?? bodyText);
  const code = body?.error?.code ?? (typeof e.code === 'string' && !/^(ECONN|ETIMEDOUT|ENOTFOUND|EAI_|ABORT)/i.test(e.code) ? e.code : undefined);
  // A block can come as {"errorCode":209,"message":"{ \"subCode\": \"MessageWritesBlocked\" ... }"}, with no error object.
  const subCode = /MessageWritesBlocked/.test(bodyText) || /MessageWritesBlocked/.test(String(e.message)) ? 'MessageWritesBlocked' : undefined;
  const retryAfter = e.response?.headers?.get?.('retry-after') ?? undefined;
  const message = body?.error?.message ?? (typeof e.message === 'string' ? e.message : String(error));
  return {
    ...(statusCode !== undefined && { statusCode }),
    ...((subCode ?? code) !== undefined && { code: subCode ?? code }),
    ...(retryAfter !== undefined && retryAfter !== null && retryAfter.trim() !== '' && { retryAfterMs: parseRetryAfter(retryAfter) }),
    message,
  };
}

interface ConnectorErrorBody {
  error?: { code?: string; message?: string };
}

function parseBody(body: unknown): ConnectorErrorBody | undefined {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as ConnectorErrorBody;
    } catch {
      return undefined;
    }
  }
  return typeof body === 'object' && body !== null ? (body as ConnectorErrorBody) : undefined;
}

/** Retry-After is seconds or an HTTP date; a header that is neither still means "wait": a second. */
export function parseRetryAfter(value: string, now = Date.now()): number {
  return parseHeader(value, now) ?? 1000;
}
