/**
 * The part of a Bot Framework activity (a protocol schema, not a botbuilder type) that the core
 * reads. Any SDK's activity object fits it.
 */
export interface ChannelAccount {
  readonly id: string;
  readonly name?: string;
  readonly aadObjectId?: string;
}

export interface IncomingActivity {
  readonly type: string;
  readonly id?: string;
  readonly action?: string;
  readonly name?: string;
  readonly text?: string;
  readonly value?: unknown;
  readonly serviceUrl: string;
  readonly channelId: string;
  readonly from: ChannelAccount;
  readonly recipient: ChannelAccount;
  readonly conversation: {
    readonly id: string;
    readonly conversationType?: string;
    readonly tenantId?: string;
    readonly name?: string;
    readonly isGroup?: boolean;
  };
  readonly channelData?: {
    readonly tenant?: { readonly id?: string };
    readonly team?: { readonly id?: string; readonly name?: string; readonly aadGroupId?: string };
    readonly channel?: { readonly id?: string; readonly name?: string };
    readonly eventType?: string;
    readonly [key: string]: unknown;
  };
  readonly membersAdded?: readonly ChannelAccount[];
  readonly membersRemoved?: readonly ChannelAccount[];
}

/** The tenant an activity comes from, wherever Teams put it. */
export function tenantOf(activity: Pick<IncomingActivity, 'channelData' | 'conversation'>): string | undefined {
  return activity.channelData?.tenant?.id ?? activity.conversation.tenantId;
}
