import type { OutgoingMessage } from '../teams/teamsSender';
import type { IncomingActivity } from './incomingActivity';

/** An HTTP request to the bot's messaging endpoint, as any host hands it over. */
export interface BotRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: unknown;
}

export interface BotResponse {
  readonly status: number;
  readonly body?: unknown;
}

/**
 * The port for the bot's messaging endpoint: checks the Bot Framework token (when an app id is
 * configured), runs the core's handler, and sends its replies into the same conversation.
 */
export interface BotEndpoint {
  process(request: BotRequest): Promise<BotResponse>;
}

/** The core's side of the bot: what to remember from an activity, and what to answer. */
export interface ActivityHandler {
  handle(activity: IncomingActivity): Promise<readonly OutgoingMessage[]>;
}

/**
 * Replies to a user's own message are part of the turn, but they spend the tenant's budget like
 * any send: the endpoint waits for a send time before each reply and reports a 429 it met.
 */
export interface ReplyPacing {
  /** Waits for the tenant's next send time for a reply; throws when it is too far off for a turn. */
  beforeReply(tenantId: string): Promise<void>;
  throttled(tenantId: string, retryAfterMs: number | undefined): Promise<void>;
}
