# frozen_string_literal: true

module RiskHub
  VERSION = '0.1.0'
end
