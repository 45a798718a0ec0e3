import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { readerType } from '../kafka/serde.ts';
import { resolveAsset } from '../paths.ts';

// One reader type per schema for the whole process: AvroSerde caches writer→reader resolvers by
// schema id and reader NAME, and an avsc resolver only works with the very Type instance that
// created it, so every decoder must pass the same instance.
let alert: avro.Type | undefined;
let delivery: avro.Type | undefined;
let decision: avro.Type | undefined;

/** Alerts, with the `decision` field added by issue 15: an alert written without it reads as decision null. */
export function alertReader(): avro.Type {
  return (alert ??= readerType('risk-alert.avsc'));
}

export function deliveryReader(): avro.Type {
  return (delivery ??= readerType('delivery.avsc'));
}

/** Decisions topic values (schemas/decision.avsc): a person's decisions are notified on their own. */
export function decisionReader(): avro.Type {
  return (decision ??= avro.Type.forSchema(JSON.parse(readFileSync(resolveAsset('schemas/decision.avsc'), 'utf8')) as avro.Schema));
}
