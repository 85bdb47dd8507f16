import { z } from 'zod';

/** Teams refuses messages over about 28 KB (413 MessageSizeTooBig); refuse them at the edge instead. */
export const MAX_MESSAGE_BYTES = 28 * 1024;

const adaptiveCardSchema = z
  .object({ type: z.literal('AdaptiveCard'), version: z.string().min(1) })
  .catchall(z.unknown());

const actionSchema = z.object({ title: z.string().trim().min(1).max(100), url: z.url({ protocol: /^https?$/ }) }).strict();

export const notificationTemplateDataSchema = z
  .object({
    title: z.string().trim().min(1).max(200),
    whatHappened: z.string().trim().min(1).max(2000),
    result: z.string().trim().max(1000).optional(),
    triggeredBy: z.string().trim().max(200).optional(),
    actions: z.array(actionSchema).max(5).optional(),
  })
  .strict();

export type NotificationTemplateData = z.infer<typeof notificationTemplateDataSchema>;
export type AdaptiveCard = z.infer<typeof adaptiveCardSchema>;

/** A message given as content: markdown text, an Adaptive Card, or both. */
export interface ContentMessage {
  readonly text?: string;
  readonly card?: AdaptiveCard;
  readonly summary?: string;
}

/** A message rendered by teams-notify from one of its templates. */
export interface TemplateMessage {
  readonly template: 'notification';
  readonly data: NotificationTemplateData;
  readonly summary?: string;
}

export type Message = ContentMessage | TemplateMessage;

/**
 * One flat object with cross-field rules, rather than a union, so that a mistake is reported
 * against the field that holds it instead of as "no union member matched".
 */
export const messageSchema = z
  .object({
    text: z.string().min(1, 'text must not be empty').optional(),
    card: adaptiveCardSchema.optional(),
    summary: z.string().max(300).optional(),
    template: z.literal('notification').optional(),
    data: z.unknown().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.template !== undefined) {
      if (m.text !== undefined || m.card !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['template'], message: 'a template message takes data, not text or card' });
      }
      const data = notificationTemplateDataSchema.safeParse(m.data);
      if (!data.success) {
        for (const issue of data.error.issues) {
          ctx.addIssue({ code: 'custom', path: ['data', ...issue.path.map(String)], message: issue.message });
        }
      }
    } else {
      if (m.data !== undefined) ctx.addIssue({ code: 'custom', path: ['data'], message: 'data goes with template' });
      if (m.text === undefined && m.card === undefined) {
        ctx.addIssue({ code: 'custom', path: ['text'], message: 'give text, card, or a template' });
      }
    }
    if (Buffer.byteLength(JSON.stringify(m), 'utf8') > MAX_MESSAGE_BYTES) {
      ctx.addIssue({ code: 'custom', path: [], message: `message is larger than Teams accepts (${MAX_MESSAGE_BYTES} bytes)` });
    }
  })
  .transform((m): Message =>
    m.template !== undefined
      ? { template: m.template, data: m.data as NotificationTemplateData, ...(m.summary !== undefined && { summary: m.summary }) }
      : {
          ...(m.text !== undefined && { text: m.text }),
          ...(m.card !== undefined && { card: m.card }),
          ...(m.summary !== undefined && { summary: m.summary }),
        },
  );

export function isTemplateMessage(message: Message): message is TemplateMessage {
  return 'template' in message;
}
