# frozen_string_literal: true

# Runs the whole suite: ruby test/all.rb (the e2e part runs only with RISK_HUB_RELAY_URL set).
Dir[File.join(__dir__, 'test_*.rb')].sort.each { |f| require f }
