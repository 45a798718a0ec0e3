# frozen_string_literal: true

require_relative 'test_helper'

class BoundedQueueTest < Minitest::Test
  def test_drops_the_oldest_and_counts
    q = RiskHub::BoundedQueue.new(3)
    5.times { |i| q.push(i) }
    assert_equal 2, q.dropped
    assert_equal [2, 3, 4], q.take(10, 0, 0)
  end

  def test_take_returns_at_most_max
    q = RiskHub::BoundedQueue.new(10)
    7.times { |i| q.push(i) }
    assert_equal [0, 1, 2], q.take(3, 0, 0)
    assert_equal 4, q.size
  end

  def test_take_on_empty_returns_nothing_after_timeout
    assert_equal [], RiskHub::BoundedQueue.new(1).take(5, 0.01, 0)
  end
end
