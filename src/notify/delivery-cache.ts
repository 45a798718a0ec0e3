import { LRUCache } from 'lru-cache';
import type { Channel } from '../config/notify.ts';
import type { DeliveryIndex, DeliveryStatus } from './processor.ts';

/**
 * What the ledger says was already done, bounded: (channel, target, alert_id) → delivered or
 * dead_lettered. Fed by this process's own deliveries and by reading the ledger topic back
 * (src/notify/ledger.ts). 'delivered' is never downgraded; 'retrying' is not a terminal state.
 */
export class DeliveryCache implements DeliveryIndex {
  private readonly lru: LRUCache<string, DeliveryStatus>;
  constructor(max = 200_000) {
    this.lru = new LRUCache({ max });
  }
  private key(channel: Channel, targetId: string, alertId: string): string {
    return `${channel}\u0000${targetId}\u0000${alertId}`;
  }
  get(channel: Channel, targetId: string, alertId: string): DeliveryStatus | undefined {
    return this.lru.get(this.key(channel, targetId, alertId));
  }
  set(channel: Channel, targetId: string, alertId: string, status: DeliveryStatus): void {
    if (status === 'retrying') return;
    const k = this.key(channel, targetId, alertId);
    if (this.lru.get(k) === 'delivered' && status !== 'delivered') return;
    this.lru.set(k, status);
  }
  get size(): number {
    return this.lru.size;
  }
}
