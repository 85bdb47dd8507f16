/**
 * The TeamsFx baseline (bench/baselineTeamsFx.ts) really runs TeamsFx's notification loop against
 * the Teams-like connector: every user validated, then sent to once, all under the one tenant.
 */
import { runTeamsFxBaseline } from '../../bench/baselineTeamsFx';
import { startTeamsLikeConnector, type TeamsLikeConnector } from '../support/teamsLikeConnector';

jest.setTimeout(30_000);

let connector: TeamsLikeConnector;
beforeAll(async () => {
  connector = await startTeamsLikeConnector({ defaults: { latencyMs: 1, jitterMs: 1, rps: 1000 } });
});
afterAll(async () => {
  await connector.stop();
});

it('validates each installation, then sends each user the message once', async () => {
  const result = await runTeamsFxBaseline({ serviceUrl: connector.serviceUrl, users: 20, tenantId: 'fx-tenant', text: 'fx hello' });

  expect(result).toMatchObject({ delivered: 20, failed: 0, throttled: 0, requests: 40 });
  expect(result.ratePerSecond).toBeGreaterThan(0);
  const stats = await connector.stats();
  expect(Object.keys(stats.tenants)).toEqual(['fx-tenant']);
  expect(stats.tenants['fx-tenant']?.statuses).toEqual({ '200': 20, '201': 20 });
  expect(stats.tenants['fx-tenant']?.deliveries).toMatchObject({ messages: 20, distinct: 20, duplicates: 0 });
  expect(stats.tenants['fx-tenant']?.deliveries.perMessage?.['a:teamsfx-baseline-7']).toEqual({ 'fx hello': 1 });
});
