import type { SendBudget } from '../delivery/sendBudget';
import type { Channel, DirectoryPage, Graph, GraphResult, InstallOutcome } from './graph';

/**
 * Graph paced per tenant, as the Bot Connector is: every call takes a token from the tenant's Graph
 * budget (its own, since Graph's limits are not the connector's), and a 429 or a 503 with
 * Retry-After pauses that tenant's Graph calls in this process for as long as Graph asked. Other
 * tenants go on; the caller retries the throttled step through the queue.
 */
export class PacedGraph implements Graph {
  /** @param maxPauseMs A Retry-After longer than this is not believed: a broken header must not stop a tenant for days. */
  constructor(
    private readonly graph: Graph,
    private readonly budget: SendBudget,
    private readonly maxPauseMs = 5 * 60_000,
  ) {}

  /** How long this tenant's Graph calls are paused for here (0 when they are not). */
  pausedFor(tenantId: string): number {
    return this.budget.pausedFor(tenantId);
  }

  installForUser(tenantId: string, userId: string, catalogAppId: string): Promise<GraphResult<InstallOutcome>> {
    return this.paced(tenantId, () => this.graph.installForUser(tenantId, userId, catalogAppId));
  }

  personalChatId(tenantId: string, userId: string, catalogAppId: string): Promise<GraphResult<string>> {
    return this.paced(tenantId, () => this.graph.personalChatId(tenantId, userId, catalogAppId));
  }

  installInTeam(tenantId: string, groupId: string, catalogAppId: string): Promise<GraphResult<InstallOutcome>> {
    return this.paced(tenantId, () => this.graph.installInTeam(tenantId, groupId, catalogAppId));
  }

  primaryChannel(tenantId: string, groupId: string): Promise<GraphResult<Channel>> {
    return this.paced(tenantId, () => this.graph.primaryChannel(tenantId, groupId));
  }

  groupUsers(tenantId: string, groupId: string, pageLink?: string): Promise<GraphResult<DirectoryPage>> {
    return this.paced(tenantId, () => this.graph.groupUsers(tenantId, groupId, pageLink));
  }

  organizationUsers(tenantId: string, pageLink?: string): Promise<GraphResult<DirectoryPage>> {
    return this.paced(tenantId, () => this.graph.organizationUsers(tenantId, pageLink));
  }

  countGroupUsers(tenantId: string, groupId: string): Promise<GraphResult<number>> {
    return this.paced(tenantId, () => this.graph.countGroupUsers(tenantId, groupId));
  }

  countOrganizationUsers(tenantId: string): Promise<GraphResult<number>> {
    return this.paced(tenantId, () => this.graph.countOrganizationUsers(tenantId));
  }

  private async paced<T>(tenantId: string, call: () => Promise<GraphResult<T>>): Promise<GraphResult<T>> {
    await this.budget.take(tenantId);
    const result = await call();
    if (result.kind === 'throttled') this.budget.pause(tenantId, Math.min(result.retryAfterMs ?? 1_000, this.maxPauseMs));
    return result;
  }
}
