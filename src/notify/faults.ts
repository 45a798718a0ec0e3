// Crash points for the failure tests (test/integration/notify-restart.test.ts). With
// RISK_HUB_FAULT=<name> the process stops at that point for good — logs it and hangs — so a test
// can SIGKILL it in exactly that state (e.g. "delivered and recorded, offset not committed").
// Without the variable (production) a fault point is a no-op.

export type FaultPoint = 'notifier.before-commit';

export async function faultPoint(name: FaultPoint, log: { error: (o: object, msg: string) => void }): Promise<void> {
  if (process.env.RISK_HUB_FAULT !== name) return;
  log.error({ fault: name }, `fault point reached: ${name}`);
  await new Promise<never>(() => undefined);
}
