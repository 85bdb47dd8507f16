/**
 * Runs the Teams-like connector as its own process:
 *
 *   node --import tsx test/support/teamsLikeConnectorCli.ts ['<options as JSON>']
 *
 * The options are `TeamsLikeConnectorOptions` without `random`, e.g.
 * `'{"port":3980,"defaults":{"rps":50},"tenants":{"t1":{"rps":30}}}'`. Once it listens it prints
 * one line, `TEAMS_LIKE_CONNECTOR_READY {"serviceUrl":"http://127.0.0.1:<port>/"}`. SIGTERM or
 * SIGINT stops it; so does its parent going away, when started with an IPC channel.
 */
import { z } from 'zod';
import { configPatchSchema, conversationSeedSchema, startTeamsLikeConnector } from './teamsLikeConnector';
import { READY_PREFIX } from './teamsLikeConnectorProcess';

const cliOptionsSchema = configPatchSchema.extend({
  port: z.number().int().min(0).max(65535).optional(),
  conversations: z.array(conversationSeedSchema).optional(),
});

async function main(): Promise<void> {
  const options = cliOptionsSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
  const connector = await startTeamsLikeConnector(options);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void connector.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.stdout.write(`${READY_PREFIX}${JSON.stringify({ serviceUrl: connector.serviceUrl })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`teams-like connector: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
