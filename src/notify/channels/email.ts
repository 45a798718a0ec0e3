import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { EmailConfig } from '../../config/notify.ts';
import { ConnectionError } from '../../errors.ts';
import type { EmailMessage } from '../render/email.ts';
import { smtpError } from '../retry.ts';
import type { ChannelSender, EmailTarget, SendContext, SendResult } from '../types.ts';

// E-mail through nodemailer over SMTP: STARTTLS whenever the server offers it (implicit TLS with
// `secure`, mandatory with `requireTLS`), login from secrets, pooled connections, a text and an HTML
// part, Message-ID <alert_id@risk-hub>. SMTP 4xx is transient, 5xx permanent (src/notify/retry.ts).

export class EmailSender implements ChannelSender<EmailTarget> {
  readonly channel = 'email' as const;
  private readonly transporter: Transporter<SMTPPool.SentMessageInfo>;
  private readonly cfg: EmailConfig;
  private readonly render: (notification: SendContext['notification']) => EmailMessage;
  private readonly scrub: (s: string) => string;

  constructor(opts: { config: EmailConfig; password: string | undefined; render: (notification: SendContext['notification']) => EmailMessage; scrub?: (s: string) => string }) {
    this.cfg = opts.config;
    this.render = opts.render;
    this.scrub = opts.scrub ?? ((s) => s);
    const s = opts.config.smtp;
    const options: SMTPPool.Options = {
      pool: true,
      maxConnections: 2,
      host: s.host,
      port: s.port,
      secure: s.secure,
      requireTLS: s.requireTLS,
      tls: { rejectUnauthorized: s.rejectUnauthorized },
      connectionTimeout: s.connectionTimeoutMs,
      greetingTimeout: s.greetingTimeoutMs,
      socketTimeout: opts.config.timeoutMs,
      logger: false,
      debug: false,
      ...(s.username ? { auth: { user: s.username, pass: opts.password ?? '' } } : {}),
    };
    this.transporter = nodemailer.createTransport(options);
  }

  /** Connects, upgrades to TLS when offered and logs in: the notifier does not start when this fails. */
  async verify(): Promise<void> {
    const s = this.cfg.smtp;
    try {
      await this.transporter.verify();
    } catch (err) {
      const e = err as { code?: string; responseCode?: number; message?: string };
      const hint =
        e.code === 'EAUTH'
          ? `login as ${s.username ?? '(no user)'} was refused: check notify.email.smtp.username and the password${s.passwordEnv ? ` in $${s.passwordEnv}` : ''}`
          : e.code === 'ETLS' || /certificate|TLS|SSL/i.test(e.message ?? '')
            ? 'the TLS handshake failed: check notify.email.smtp.secure / requireTLS / rejectUnauthorized'
            : `check notify.email.smtp.host and port and that the server is up`;
      throw new ConnectionError(`SMTP server ${s.host}:${s.port} is not usable (${this.scrub(`${e.code ?? ''} ${e.message ?? String(err)}`.trim())}): ${hint}`, { cause: err });
    }
  }

  async send(target: EmailTarget, ctx: SendContext): Promise<SendResult> {
    const m = this.render(ctx.notification);
    try {
      const info = await this.transporter.sendMail({
        from: this.cfg.from,
        to: target.to,
        cc: target.cc,
        subject: m.subject,
        text: m.text,
        html: m.html,
        messageId: m.messageId,
        headers: m.headers,
      });
      const code = /^(\d{3})/.exec(info.response ?? '')?.[1] ?? '250';
      const rejected = (info.rejected ?? []).map(String);
      return { status: `smtp_${code}`, ...(rejected.length ? { detail: `rejected recipients: ${rejected.join(', ')}` } : {}) };
    } catch (err) {
      throw smtpError(err);
    }
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
}
