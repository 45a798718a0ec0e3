import type { Channel, RouteConfig } from '../config/notify.ts';
import type { Notification } from './notification.ts';

export type { Channel };

interface TargetBase {
  id: string;
  route: RouteConfig;
}

/** A Slack incoming webhook. `url` is a secret. */
export interface SlackTarget extends TargetBase {
  channel: 'slack';
  url: string;
}

export interface EmailTarget extends TargetBase {
  channel: 'email';
  to: string[];
  cc: string[];
}

/** A Standard Webhooks endpoint. `secrets` are the signing secrets (several during a rotation). */
export interface WebhookTarget extends TargetBase {
  channel: 'webhook';
  url: string;
  secrets: string[];
  headers: Record<string, string>;
}

export type Target = SlackTarget | EmailTarget | WebhookTarget;
export type TargetOf<C extends Channel> = Extract<Target, { channel: C }>;

/** Every enabled target by channel, secrets resolved (src/notify/secrets.ts). */
export interface ResolvedTargets {
  slack: SlackTarget[];
  email: EmailTarget[];
  webhook: WebhookTarget[];
  /** SMTP password, when configured. */
  smtpPassword: string | undefined;
  /** Every secret value, for scrubbing error messages and ledger entries. */
  secrets: string[];
}

/** What one successful attempt reports (e.g. status "http_200", "smtp_250"). */
export interface SendResult {
  status: string;
  detail?: string;
}

export interface SendContext {
  /** An alert, or a person's decision from the decisions topic. */
  notification: Notification;
  attempt: number;
  /** Upper bound of this attempt (ms), already capped by the remaining retry budget. */
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * One channel's transport. `send` resolves when the peer accepted the message and throws a
 * DeliveryError otherwise (`retriable` separates transient from permanent failures).
 */
export interface ChannelSender<T extends Target = Target> {
  readonly channel: T['channel'];
  /** Checks the peer at start-up (SMTP login); throws with a clear message. */
  verify?(): Promise<void>;
  send(target: T, ctx: SendContext): Promise<SendResult>;
  close(): Promise<void>;
}
