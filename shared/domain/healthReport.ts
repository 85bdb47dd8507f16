import { z } from 'zod';

/** What `GET /api/health` says of each dependency: callers learn what is down, the log learns why. */
export const dependencyStateSchema = z.enum(['ok', 'unreachable']);

export const healthReportSchema = z
  .object({ status: z.literal('ok'), dependencies: z.object({ storage: dependencyStateSchema, queue: dependencyStateSchema }).strict() })
  .strict();

export type HealthReport = z.infer<typeof healthReportSchema>;
