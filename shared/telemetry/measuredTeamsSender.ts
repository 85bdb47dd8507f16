import type { BotEndpointAddress } from '../domain/reference';
import type {
  ChangeOutcome,
  ConversationAddress,
  CreateConversationResult,
  OutgoingMessage,
  TeamMembersPage,
  TeamsSender,
} from '../teams/teamsSender';
import type { SendOutcome } from '../domain/outcome';
import type { ConnectorCall, DeliveryMetrics } from './deliveryMetrics';

/**
 * The Teams port, measured: every Bot Connector call records its duration and outcome, and a 429
 * counts as throttled for its tenant. A decorator, so the adapters (botbuilder, or a test's
 * connector) stay as they are and no call path can forget it.
 */
export class MeasuredTeamsSender implements TeamsSender {
  constructor(
    private readonly inner: TeamsSender,
    private readonly metrics: DeliveryMetrics,
    private readonly now: () => number = () => performance.now(),
  ) {}

  send(to: ConversationAddress, message: OutgoingMessage): Promise<SendOutcome> {
    return this.measure('send', to, () => this.inner.send(to, message));
  }

  createPersonalConversation(at: BotEndpointAddress, userId: string): Promise<CreateConversationResult> {
    return this.measure('create-conversation', at, () => this.inner.createPersonalConversation(at, userId));
  }

  createChannelThread(at: BotEndpointAddress, channelId: string, message: OutgoingMessage): Promise<SendOutcome> {
    return this.measure('create-thread', at, () => this.inner.createChannelThread(at, channelId, message));
  }

  listTeamMembers(at: BotEndpointAddress, teamId: string, continuationToken?: string): Promise<TeamMembersPage> {
    return this.measure('list-members', at, () => this.inner.listTeamMembers(at, teamId, continuationToken));
  }

  updateMessage(to: ConversationAddress, activityId: string, message: OutgoingMessage): Promise<ChangeOutcome> {
    return this.measure('update', to, () => this.inner.updateMessage(to, activityId, message));
  }

  deleteMessage(to: ConversationAddress, activityId: string): Promise<ChangeOutcome> {
    return this.measure('delete', to, () => this.inner.deleteMessage(to, activityId));
  }

  private async measure<R extends { readonly kind: string }>(operation: ConnectorCall['operation'], at: BotEndpointAddress, call: () => Promise<R>): Promise<R> {
    const started = this.now();
    const result = await call();
    // Adapters classify every connector answer instead of throwing, so each call ends here.
    this.metrics.connectorCall({ operation, outcome: result.kind, tenantId: at.tenantId, durationMs: this.now() - started });
    return result;
  }
}
