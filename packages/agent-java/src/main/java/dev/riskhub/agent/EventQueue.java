package dev.riskhub.agent;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The bounded in-memory queue between request threads and the sender: when full, the OLDEST event is
 * dropped and counted, so a relay outage costs memory for at most {@code max} events and never blocks a
 * request thread (offer() only takes a short lock). An event is a map of the protocol's fields or a
 * {@link RequestReader.Captured} request event.
 */
final class EventQueue {
  private final ArrayDeque<Object> events = new ArrayDeque<>();
  private final int max;
  private final int batch;
  final AtomicLong droppedQueueFull = new AtomicLong();

  /** {@code batch}: the sender's batch size; a full batch wakes it before its linger time is over. */
  EventQueue(int max, int batch) {
    this.max = max;
    this.batch = batch;
  }

  synchronized void offer(Object event) {
    if (events.size() >= max) {
      events.pollFirst();
      droppedQueueFull.incrementAndGet();
    }
    events.addLast(event);
    int size = events.size();
    if (size == 1 || size == batch) notifyAll(); // the sender waits for a first event, then for a full batch
  }

  /** Puts a batch that could not be sent back in front, in order; the oldest go first if it overflows. */
  synchronized void requeue(List<Object> batch) {
    for (int i = batch.size() - 1; i >= 0; i--) events.addFirst(batch.get(i));
    while (events.size() > max) {
      events.pollFirst();
      droppedQueueFull.incrementAndGet();
    }
  }

  /**
   * Up to {@code n} events: waits up to {@code waitMs} for the first one, then up to {@code lingerMs} for
   * a fuller batch. Empty when nothing came.
   */
  synchronized List<Object> take(int n, long waitMs, long lingerMs) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMs);
    while (events.isEmpty()) {
      long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
      if (left <= 0) return List.of();
      wait(left);
    }
    long lingerEnd = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(lingerMs);
    while (events.size() < n) {
      long left = TimeUnit.NANOSECONDS.toMillis(lingerEnd - System.nanoTime());
      if (left <= 0) break;
      wait(left);
    }
    List<Object> out = new ArrayList<>(Math.min(n, events.size()));
    while (out.size() < n && !events.isEmpty()) out.add(events.pollFirst());
    return out;
  }

  synchronized int size() {
    return events.size();
  }

  synchronized List<Object> drainAll() {
    List<Object> out = new ArrayList<>(events);
    events.clear();
    return out;
  }

  synchronized void wake() {
    notifyAll();
  }
}
