# frozen_string_literal: true

require 'sinatra/base'
require 'json'

# The small Sinatra app of the tests, the benchmark and the quick start: a login, a search, an order
# page with a route parameter, a JSON comment endpoint. The signed-in user comes from a header here
# (a real app reads its session).
class SampleApp < Sinatra::Base
  set :environment, :production
  set :show_exceptions, false
  set :raise_errors, false
  set :host_authorization, { permitted_hosts: [] } if respond_to?(:host_authorization)

  USERS = { 'alice' => 'wonderland', 'bob' => 'builder' }.freeze

  before do
    user = request.env['HTTP_X_USER']
    agent&.identify(env, { key: user, identifiers: { 'login' => user } }) if user
  end

  helpers do
    def agent
      env['risk_hub.agent']
    end
  end

  get('/health') { 'ok' }

  get '/search' do
    content_type :json
    JSON.generate('q' => params['q'].to_s, 'results' => [])
  end

  get '/orders/:id' do
    content_type :json
    JSON.generate('order' => params['id'])
  end

  post '/comments' do
    content_type :json
    body = request.body.read
    JSON.generate('received' => body.bytesize)
  end

  post '/login' do
    ok = USERS[params['username']] == params['password']
    agent&.track_login(ok, params['username'].to_s, env)
    halt 401, 'invalid credentials' unless ok

    'welcome'
  end

  post '/pay' do
    agent&.report(type: 'payment_fraud', severity: 'HIGH', env: env)
    'paid'
  end
end
