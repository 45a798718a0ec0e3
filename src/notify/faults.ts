// Crash points for the failure tests (test/integration/notify-restart.test.ts). With
// RH_FAULT=<name> (not RISK_HUB_*: those are configuration) the process stops at that point for good — logs it and hangs — so a test
// can SIGKILL it in exactly that state (e.g. "delivered and recorded, offset not committed").
// Without the variable (production) a fault point is a no-op.

export type FaultPoint = 'notifier.before-commit';

export async function faultPoint(name: FaultPoint, log: { error: (o: object, msg: string) => void }): Promise<void> {
  if (process.env.RH_FAULT !== name) return;
  log.error({ fault: name }, `fault point reached: ${name}`);
  await new Promise<never>(() => undefined);
}
