import type { Activity, TurnContext } from 'botbuilder';
import { AuthenticationError } from 'botframework-connector';
import type { ActivityHandler, BotEndpoint, BotRequest, BotResponse, ReplyPacing } from '../../bot/botEndpoint';
import { tenantOf, type IncomingActivity } from '../../bot/incomingActivity';
import { describeError, type Logger } from '../../logger';
import type { OutgoingMessage } from '../teamsSender';
import { readConnectorError } from './botbuilderTeamsSender';
import type { TeamsCloudAdapter } from './cloudAdapter';
import { toActivity } from './toActivity';

/**
 * The bot endpoint on botbuilder: the adapter checks the Bot Framework token (when an app id is
 * configured) and builds the turn; the core handler decides; its replies go back into the turn.
 */
export class BotbuilderBotEndpoint implements BotEndpoint {
  constructor(
    private readonly adapter: TeamsCloudAdapter,
    private readonly handler: ActivityHandler,
    private readonly log: Logger,
    private readonly pacing: ReplyPacing,
  ) {}

  async process(request: BotRequest): Promise<BotResponse> {
    if (request.method !== 'POST') return { status: 405 };
    const activity = asActivity(request.body);
    if (activity === undefined) return { status: 400, body: 'the body must be a Bot Framework activity with a type' };
    const authHeader = Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1] ?? '';
    try {
      const invokeResponse = await this.adapter.runTurn(authHeader, activity, async (context: TurnContext) => {
        const incoming = context.activity as unknown as IncomingActivity;
        const replies = await this.handler.handle(incoming);
        for (const reply of replies) await this.reply(context, incoming, reply);
      });
      return { status: invokeResponse?.status ?? 200, ...(invokeResponse?.body !== undefined && { body: invokeResponse.body }) };
    } catch (error) {
      if (error instanceof AuthenticationError) {
        this.log.warn(`bot endpoint refused an activity: ${describeError(error)}`);
        return { status: 401 };
      }
      this.log.error(`bot endpoint failed on a ${activity.type} activity: ${describeError(error)}`);
      return { status: 500 };
    }
  }

  /**
   * One reply, on the tenant's budget. A 429 pauses the tenant everywhere; the reply is tried once
   * more after the pause if that fits in the turn. Otherwise the error fails the turn (500, logged
   * with the tenant and why), rather than the answer vanishing.
   */
  private async reply(context: TurnContext, activity: IncomingActivity, reply: OutgoingMessage): Promise<void> {
    const tenantId = tenantOf(activity) ?? 'unknown';
    await this.pacing.beforeReply(tenantId);
    try {
      await context.sendActivity(toActivity(reply));
    } catch (error) {
      const failure = readConnectorError(error);
      if (failure.statusCode !== 429) throw error;
      this.log.warn(`reply in ${activity.conversation.id} (tenant ${tenantId}) throttled by Teams; trying again after the pause`);
      await this.pacing.throttled(tenantId, failure.retryAfterMs);
      await this.pacing.beforeReply(tenantId);
      await context.sendActivity(toActivity(reply));
    }
  }
}

/** The body as an activity, with its times as Dates, as `CloudAdapter.process` would hand it on. */
function asActivity(body: unknown): Activity | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const activity = body as Record<string, unknown>;
  if (typeof activity.type !== 'string' || activity.type === '') return undefined;
  for (const [field, raw] of [['timestamp', 'rawTimestamp'], ['localTimestamp', 'rawLocalTimestamp'], ['expiration', 'rawExpiration']] as const) {
    const value = activity[field];
    if (typeof value === 'string') {
      activity[raw] = value;
      activity[field] = new Date(value);
    }
  }
  return activity as unknown as Activity;
}
