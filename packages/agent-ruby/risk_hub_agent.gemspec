# frozen_string_literal: true

require_relative 'lib/risk_hub/version'

Gem::Specification.new do |s|
  s.name = 'risk_hub_agent'
  s.version = RiskHub::VERSION
  s.summary = 'Risk Hub agent for Rack applications (Sinatra, Rails, Hanami, plain Rack)'
  s.description = 'Thin Rack middleware that sends requests, logins and custom events to the local ' \
                  'Risk Hub relay in a background thread and enforces its block/challenge decisions.'
  s.authors = ['Risk Hub']
  s.license = 'MIT'
  s.required_ruby_version = '>= 2.7'
  s.files = Dir['lib/**/*.rb'] + %w[README.md]
  s.require_paths = ['lib']
  # Only the standard library (net/http, json, securerandom) and Rack, which every Rack app already has.
  s.add_runtime_dependency 'rack', '>= 2.0'
end
