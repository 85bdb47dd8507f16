import type { Activity, TurnContext } from 'botbuilder';
import { AuthenticationError } from 'botframework-connector';
import { checkActivity } from '../../bot/activitySchema';
import type { ActivityHandler, BotEndpoint, BotRequest, BotResponse, ReplyPacing } from '../../bot/botEndpoint';
import { tenantOf, type IncomingActivity } from '../../bot/incomingActivity';
import { RefusedActivity } from '../../bot/refusedActivity';
import { ReplyNotSentError } from '../../bot/replyPacing';
import { isConnectionFailure } from '../../http/connectionFailure';
import type { Logger } from '../../logger';
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
    // Checked before botbuilder sees it: its token check reads serviceUrl and channelId, and its
    // reply serializer and our handler call string methods on ids, so a wrong type must stop here.
    const checked = checkActivity(request.body);
    if (!checked.ok) return { status: 400, body: { errors: checked.errors } };
    const activity = asActivity(checked.activity);
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
        this.log.warn('bot endpoint refused an activity', { outcome: 'refused', reason: 'authentication', error });
        return { status: 401 };
      }
      // The handler refused it (a serviceUrl outside Teams' hosts) and stored nothing: logged there.
      if (error instanceof RefusedActivity) return { status: error.status };
      if (error instanceof ReplyFailedError) {
        // The activity was valid and its effects are stored; the connector did not take the answer.
        // The turn fails (502, or 503 while Teams throttles the tenant) so the user sees it, rather than the answer vanishing.
        this.log.warn(`bot endpoint: the reply to a ${activity.type} activity was not sent`, { tenantId: tenantOf(activity), error: error.cause });
        return { status: error.cause instanceof ReplyNotSentError ? 503 : 502 };
      }
      this.log.error(`bot endpoint failed on a ${activity.type} activity`, { tenantId: tenantOf(activity), error });
      return { status: isConnectionFailure(error) ? 503 : 500 };
    }
  }

  /**
   * One reply, on the tenant's budget. A 429 pauses the tenant everywhere; the reply is tried once
   * more after the pause if that fits in the turn. Otherwise the error fails the turn (500, logged
   * with the tenant and why), rather than the answer vanishing.
   */
  private async reply(context: TurnContext, activity: IncomingActivity, reply: OutgoingMessage): Promise<void> {
    try {
      await this.sendReply(context, activity, reply);
    } catch (error) {
      throw new ReplyFailedError(error);
    }
  }

  private async sendReply(context: TurnContext, activity: IncomingActivity, reply: OutgoingMessage): Promise<void> {
    const tenantId = tenantOf(activity) ?? 'unknown';
    await this.pacing.beforeReply(tenantId);
    try {
      await context.sendActivity(toActivity(reply));
    } catch (error) {
      const failure = readConnectorError(error);
      if (failure.statusCode !== 429) throw error;
      this.log.warn('a reply was throttled by Teams; trying again after the pause', { tenantId, recipient: activity.conversation.id, outcome: 'throttled' });
      await this.pacing.throttled(tenantId, failure.retryAfterMs);
      await this.pacing.beforeReply(tenantId);
      await context.sendActivity(toActivity(reply));
    }
  }
}

/** A reply the connector did not take (or the tenant's pause did not allow): a dependency's failure, not the activity's. */
class ReplyFailedError extends Error {
  override name = 'ReplyFailedError';
  constructor(override readonly cause: unknown) {
    super('the reply was not sent');
  }
}

/** The checked body as an activity, with its times as Dates, as `CloudAdapter.process` would hand it on. */
function asActivity(body: Record<string, unknown>): Activity {
  const activity = body;
  for (const [field, raw] of [['timestamp', 'rawTimestamp'], ['localTimestamp', 'rawLocalTimestamp'], ['expiration', 'rawExpiration']] as const) {
    const value = activity[field];
    if (typeof value === 'string') {
      activity[raw] = value;
      activity[field] = new Date(value);
    }
  }
  return activity as unknown as Activity;
}
