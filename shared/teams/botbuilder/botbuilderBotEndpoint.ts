import type { CloudAdapter, TurnContext } from 'botbuilder';
import type { ActivityHandler, BotEndpoint, BotRequest, BotResponse } from '../../bot/botEndpoint';
import type { IncomingActivity } from '../../bot/incomingActivity';
import type { Logger } from '../../logger';
import { toActivity } from './toActivity';

/**
 * The bot endpoint on botbuilder: CloudAdapter checks the Bot Framework token (when an app id is
 * configured) and builds the turn; the core handler decides; its replies go back into the turn.
 */
export class BotbuilderBotEndpoint implements BotEndpoint {
  constructor(
    private readonly adapter: CloudAdapter,
    private readonly handler: ActivityHandler,
    private readonly log: Logger,
  ) {}

  async process(request: BotRequest): Promise<BotResponse> {
    const response = new CapturedResponse();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name.toLowerCase()] = value;
    await this.adapter.process({ method: request.method, headers, body: request.body as Record<string, unknown> | undefined }, response, async (context: TurnContext) => {
      const replies = await this.handler.handle(context.activity as unknown as IncomingActivity);
      for (const reply of replies) await context.sendActivity(toActivity(reply));
    });
    if (response.statusCode >= 500) this.log.error(`bot endpoint answered ${response.statusCode}: ${String(response.body ?? '')}`);
    return { status: response.statusCode, ...(response.body !== undefined && { body: response.body }) };
  }
}

/** The express-like response object CloudAdapter.process writes to. */
class CapturedResponse {
  statusCode = 200;
  body: unknown;
  readonly socket = undefined;

  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  header(_name: string, _value: unknown): this {
    return this;
  }

  send(body: unknown): this {
    this.body = body;
    return this;
  }

  end(): this {
    return this;
  }
}
