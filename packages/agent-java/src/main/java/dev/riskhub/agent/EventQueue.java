package dev.riskhub.agent;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The bounded in-memory queue between request threads and the sender: when full, the OLDEST event is
 * dropped and counted, so a relay outage costs memory for at most {@code max} events, and a request
 * thread never blocks: offer() is lock-free (a contended lock made request threads wait for a lock holder
 * descheduled on a busy machine, tens of ms at times). An event is a map of the protocol's fields or a
 * {@link RequestReader.Captured} request event. One thread takes (the sender).
 */
final class EventQueue {
  private final ConcurrentLinkedDeque<Object> events = new ConcurrentLinkedDeque<>();
  /** Events in the deque (each add counted before, each removal after: never below the true count). */
  private final AtomicInteger size = new AtomicInteger();
  private final int max;
  private final int batch;
  final AtomicLong droppedQueueFull = new AtomicLong();
  /** The sender while it waits in take(), for the offer that has something for it to unpark it. */
  private final AtomicReference<Thread> waiting = new AtomicReference<>();

  /** {@code batch}: the sender's batch size; a full batch wakes it before its linger time is over. */
  EventQueue(int max, int batch) {
    this.max = max;
    this.batch = batch;
  }

  void offer(Object event) {
    events.addLast(event);
    int s = size.incrementAndGet();
    if (s > max) dropOldest();
    // the sender waits for a first event, then for a full batch: wake it when either is there
    if (waiting.get() != null && (s == 1 || s >= batch)) wake();
  }

  private void dropOldest() {
    if (events.pollFirst() != null) {
      size.decrementAndGet();
      droppedQueueFull.incrementAndGet();
    }
  }

  /** Puts a batch that could not be sent back in front, in order; the oldest go first if it overflows. */
  void requeue(List<Object> batch) {
    for (int i = batch.size() - 1; i >= 0; i--) {
      events.addFirst(batch.get(i));
      size.incrementAndGet();
    }
    while (size.get() > max) dropOldest();
  }

  /**
   * Up to {@code n} events: waits up to {@code waitMs} for the first one, then up to {@code lingerMs} for
   * a fuller batch. Empty when nothing came. The sender's only.
   */
  List<Object> take(int n, long waitMs, long lingerMs) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMs);
    while (size.get() < 1) {
      if (!park(deadline, 1)) return List.of();
    }
    long lingerEnd = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(lingerMs);
    while (size.get() < n) {
      if (!park(lingerEnd, n)) break;
    }
    List<Object> out = new ArrayList<>(Math.min(n, Math.max(1, size.get())));
    while (out.size() < n) {
      Object e = events.pollFirst();
      if (e == null) break;
      size.decrementAndGet();
      out.add(e);
    }
    return out;
  }

  /**
   * Parks the sender until woken or {@code deadline}, unless {@code atLeast} events are there once it
   * has said it waits (an offer adds, then looks for a waiter; the sender says it waits, then looks at
   * the size: one of the two sees the other, so no wake-up is lost). False when the deadline passed.
   */
  private boolean park(long deadline, int atLeast) throws InterruptedException {
    long left = deadline - System.nanoTime();
    if (left <= 0) return false;
    waiting.set(Thread.currentThread());
    try {
      if (size.get() < atLeast) LockSupport.parkNanos(this, left);
    } finally {
      waiting.set(null);
    }
    if (Thread.interrupted()) throw new InterruptedException();
    return true;
  }

  int size() {
    return Math.max(0, size.get());
  }

  List<Object> drainAll() {
    List<Object> out = new ArrayList<>();
    Object e;
    while ((e = events.pollFirst()) != null) {
      size.decrementAndGet();
      out.add(e);
    }
    return out;
  }

  void wake() {
    Thread t = waiting.get();
    if (t != null) LockSupport.unpark(t);
  }
}
