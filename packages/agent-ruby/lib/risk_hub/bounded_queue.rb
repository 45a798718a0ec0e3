# frozen_string_literal: true

module RiskHub
  # A bounded FIFO of events: push never blocks; when full, the OLDEST event is dropped and counted.
  class BoundedQueue
    attr_reader :dropped

    # full_batch: the size at which a lingering taker is woken early.
    def initialize(capacity, full_batch = 500)
      @capacity = capacity
      @full_batch = full_batch
      @items = []
      @dropped = 0
      @mutex = Mutex.new
      @ready = ConditionVariable.new
    end

    def push(item)
      @mutex.synchronize do
        if @items.size >= @capacity
          @items.shift
          @dropped += 1
        end
        @items << item
        # Wake the sender only when it has something new to do (first item, or a full batch): a signal
        # per event would cost a thread switch per request.
        @ready.signal if @items.size == 1 || @items.size == @full_batch
      end
    end

    # Up to max items, waiting at most timeout seconds for the first one and then linger for more.
    def take(max, timeout, linger)
      @mutex.synchronize do
        @ready.wait(@mutex, timeout) if @items.empty?
        return [] if @items.empty?

        if @items.size < max && linger.positive?
          deadline = monotonic + linger
          while @items.size < max && (left = deadline - monotonic).positive?
            @ready.wait(@mutex, left)
          end
        end
        @items.shift(max)
      end
    end

    # What is queued, up to max items, without waiting.
    def drain(max)
      @mutex.synchronize { @items.shift(max) }
    end

    def wake
      @mutex.synchronize { @ready.broadcast }
    end

    def size
      @mutex.synchronize { @items.size }
    end

    def clear
      @mutex.synchronize do
        n = @items.size
        @items.clear
        n
      end
    end

    private

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
