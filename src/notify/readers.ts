import type avro from 'avsc';
import { readerType } from '../kafka/serde.ts';

// One reader type per schema for the whole process: AvroSerde caches writer→reader resolvers by
// schema id and reader NAME, and an avsc resolver only works with the very Type instance that
// created it, so every decoder must pass the same instance.
let alert: avro.Type | undefined;
let delivery: avro.Type | undefined;

export function alertReader(): avro.Type {
  return (alert ??= readerType('risk-alert.avsc'));
}

export function deliveryReader(): avro.Type {
  return (delivery ??= readerType('delivery.avsc'));
}
