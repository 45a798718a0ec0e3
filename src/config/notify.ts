import { z } from 'zod';

// Owned by the notifiers (issue 4): routing, channels, retry budget. Kept in its own file so the
// notifier work can grow it without touching the rest of the configuration.
export const NotifySchema = z.looseObject({}).default({});
export type NotifyConfig = z.infer<typeof NotifySchema>;
