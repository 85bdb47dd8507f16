import { z } from 'zod';
import type { Recipient } from '../domain/recipient';
import type { Audience } from './measureAudience';

/** The 200 body of `POST /api/notifications?dryRun=true`: who the request would reach, and what the guard would say. */

const people = z.number().int().min(0);
const maybePeople = people.nullable().describe('null when only the send can tell');

export const entryAudienceSchema = z
  .object({
    index: z.number().int().min(0),
    type: z.enum(['user', 'conversation', 'channel', 'team', 'teamMembers', 'allUsers', 'allTeams', 'group', 'organization']),
    total: maybePeople,
    known: maybePeople,
    toInstall: maybePeople,
    unreachable: maybePeople,
    countedBy: z.enum(['references', 'graph']),
    note: z.string().optional(),
  })
  .strict();

export const audienceSchema = z
  .object({ total: people, known: people, toInstall: people, unreachable: people, exact: z.boolean(), entries: z.array(entryAudienceSchema) })
  .strict();

export const dryRunResponseSchema = z
  .object({
    audience: audienceSchema,
    guard: z
      .object({
        audienceGuard: z.number().int().min(0).describe('AUDIENCE_GUARD'),
        maxAudienceRequired: z.boolean(),
        wouldRefuse: z.enum(['guard', 'maxAudience']).optional().describe('Set when the same request without dryRun would be refused (422)'),
      })
      .strict(),
  })
  .strict();

// Every audience the measure can produce fits the schema, and every recipient type has its name in it.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type AudienceBody = z.infer<typeof audienceSchema>;
const _audience: Omit<Audience, 'entries'> extends Omit<AudienceBody, 'entries'> ? (Audience['entries'][number] extends AudienceBody['entries'][number] ? true : false) : false = true;
const _types: Same<z.infer<typeof entryAudienceSchema>['type'], Recipient['type']> = true;
void [_audience, _types];
