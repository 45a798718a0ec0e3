# frozen_string_literal: true

# Risk Hub agent for Rack applications. Entry points: RiskHub::Agent.new(...) and RiskHub::Middleware.
require_relative 'risk_hub/version'
require_relative 'risk_hub/identity'
require_relative 'risk_hub/options'
require_relative 'risk_hub/bounded_queue'
require_relative 'risk_hub/relay_client'
require_relative 'risk_hub/request_facts'
require_relative 'risk_hub/decisions'
require_relative 'risk_hub/agent'
require_relative 'risk_hub/middleware'
