import { z } from 'zod';
import { editRequestSchema } from '../requests/amendNotification';
import { redriveAllSchema } from '../requests/deadLetterQuery';
import { retryRequestSchema } from '../requests/retryNotification';
import { incomingActivitySchema } from '../bot/activitySchema';
import { healthReportSchema } from '../domain/healthReport';
import { messageSchema } from '../domain/message';
import {
  acceptedReceiptSchema,
  cancelledReceiptSchema,
  editedReceiptSchema,
  recalledReceiptSchema,
  retryingReceiptSchema,
} from '../domain/notificationReceipt';
import { notificationRequestSchema } from '../domain/notificationRequest';
import { notificationStatusResponseSchema, recipientStatusRowSchema, statusCountsSchema } from '../domain/notificationStatusResponse';
import { recipientSchema } from '../domain/recipient';
import { fieldErrorSchema, problemSchema } from '../http/problemSchema';
import { dryRunResponseSchema } from '../requests/dryRunResponse';
import { deadLetterPageSchema, deadLetterSchema, redriveAllResultSchema, redrivenSchema } from './deadLetterSchemas';

/**
 * The zod schemas the document names, under their component names. The request schemas are the
 * very ones the handlers parse with; the response schemas type the handlers' answers. Nested
 * ones named here (Recipient, Message, ...) become `$ref`s instead of copies.
 */
export const componentSchemas = {
  NotificationRequest: notificationRequestSchema,
  Recipient: recipientSchema,
  Message: messageSchema,
  EditRequest: editRequestSchema,
  RetryRequest: retryRequestSchema,
  AcceptedReceipt: acceptedReceiptSchema,
  CancelledReceipt: cancelledReceiptSchema,
  RecalledReceipt: recalledReceiptSchema,
  RetryingReceipt: retryingReceiptSchema,
  EditedReceipt: editedReceiptSchema,
  DryRunResult: dryRunResponseSchema,
  NotificationStatus: notificationStatusResponseSchema,
  StatusCounts: statusCountsSchema,
  RecipientStatus: recipientStatusRowSchema,
  HealthReport: healthReportSchema,
  Activity: incomingActivitySchema,
  DeadLetter: deadLetterSchema,
  DeadLetterPage: deadLetterPageSchema,
  Redriven: redrivenSchema,
  RedriveAllRequest: redriveAllSchema,
  RedriveAllResult: redriveAllResultSchema,
  Problem: problemSchema,
  FieldError: fieldErrorSchema,
} as const satisfies Record<string, z.ZodType>;

export type SchemaName = keyof typeof componentSchemas;

export type JsonSchema = Record<string, unknown>;

/**
 * JSON Schema 2020-12 (what OpenAPI 3.1 uses) for every component, converted by zod itself
 * (`z.toJSONSchema`) as the request sees it (`io: 'input'`: before transforms, defaults optional).
 * Refinements (cross-field rules) have no JSON Schema form: the 400 still names them.
 */
export function componentJsonSchemas(): Record<SchemaName, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [name, schema] of Object.entries(componentSchemas)) registry.add(schema, { id: name });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  const out: Partial<Record<SchemaName, JsonSchema>> = {};
  for (const name of Object.keys(componentSchemas) as SchemaName[]) {
    const schema = schemas[name];
    if (schema === undefined) throw new Error(`zod produced no JSON Schema for ${name}`);
    // The dialect is OpenAPI 3.1's own; `$id` would rebase the `$ref`s.
    const { $schema: _dialect, $id: _id, ...rest } = schema as JsonSchema;
    out[name] = rest;
  }
  return out as Record<SchemaName, JsonSchema>;
}
