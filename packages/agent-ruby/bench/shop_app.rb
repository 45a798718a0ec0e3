# frozen_string_literal: true

require 'sinatra/base'
require 'json'
require 'digest'
require 'securerandom'
require 'openssl'

# The demo shop of examples/express-app in Sinatra, for the overhead benchmark: the same routes (home
# page, login, logout, search, file download, profile, health), the same demo accounts, sessions in a
# cookie (or a bearer token), and the same answers: HTML pages rendered with ERB (escaped output), JSON
# where the Express app answers JSON. With RiskHub::Middleware in front, the app finds the agent in
# env['risk_hub.agent'] (identify on a known session, track_login on POST /login), as server.ts does;
# without it the app runs alone (the baseline), in the same process if need be.
class ShopApp < Sinatra::Base
  set :environment, :production
  set :show_exceptions, false
  set :raise_errors, false
  set :logging, false
  set :host_authorization, { permitted_hosts: [] } if respond_to?(:host_authorization)

  def self.sha256(s)
    Digest::SHA256.digest(s)
  end

  DEMO_USERS = {
    'alice' => { id: 'u-1001', email: 'alice@example.com', name: 'Alice', password_sha256: sha256('wonderland') },
    'bob' => { id: 'u-1002', email: 'bob@example.com', name: 'Bob', password_sha256: sha256('builder') },
    'carol' => { id: 'u-1003', email: 'carol@example.com', name: 'Carol', password_sha256: sha256('singer') }
  }.freeze
  PRODUCTS = ['Red running shoes', 'Blue rain jacket', 'Green tea (loose leaf)', 'Espresso machine', 'Hiking backpack 40L',
              'Wool socks', 'Cast iron skillet', 'Noise-cancelling headphones', 'Paperback: The Hobbit', 'Yoga mat',
              'Stainless water bottle', 'LED desk lamp', 'Mechanical keyboard', 'USB-C charger 65W', 'Coffee grinder'].freeze
  FILES = {
    'report.pdf' => { type: 'application/pdf', body: '%PDF-1.4 demo report' },
    'readme.txt' => { type: 'text/plain', body: 'Welcome to the demo shop.' },
    'price-list.csv' => { type: 'text/csv', body: "product,price\nwool socks,9.90\n" }
  }.freeze
  MAX_SESSIONS = 10_000
  SESSIONS = {} # token → login (insertion order: the oldest goes first when full)
  SESSIONS_LOCK = Mutex.new
  SID = /(?:\A|;\s*)sid=([^;]+)/.freeze

  template :layout do
    <<~ERB
      <!doctype html><html><head><meta charset="utf-8"><title><%= h @title %></title></head><body><%= yield %></body></html>
    ERB
  end

  template :home do
    <<~ERB
      <h1>Demo shop</h1><% if @who %><p>Signed in as <%= h @who %></p><% end %>
      <form method="post" action="/login"><input name="username" placeholder="username"><input name="password" type="password" placeholder="password"><button>Sign in</button></form>
      <form method="get" action="/search"><input name="q" placeholder="search products"><button>Search</button></form>
      <p><a href="/files?name=readme.txt">readme.txt</a> · <a href="/files?name=report.pdf">report.pdf</a></p>
    ERB
  end

  template :search do
    '<h1>Results for “<%= h @q %>”</h1><ul><% @hits.each do |hit| %><li><%= h hit %></li><% end %></ul>'
  end

  helpers do
    def h(s)
      Rack::Utils.escape_html(s.to_s)
    end

    def agent
      env['risk_hub.agent']
    end

    def session_token
      auth = env['HTTP_AUTHORIZATION']
      token = auth[7..] if auth&.start_with?('Bearer ')
      token ||= SID.match(env['HTTP_COOKIE'].to_s)&.[](1)
      token
    end
  end

  before do
    token = session_token
    login = token && SESSIONS_LOCK.synchronize { SESSIONS[token] }
    user = login && DEMO_USERS[login]
    if user
      @login = login
      agent&.identify(env, { key: user[:id], identifiers: { 'login' => login, 'email' => user[:email] } })
    end
  end

  get '/' do
    @title = 'Demo shop'
    @who = @login
    erb :home
  end

  post '/login' do
    username = params['username'].is_a?(String) ? params['username'] : ''
    password = params['password'].is_a?(String) ? params['password'] : ''
    user = DEMO_USERS[username]
    ok = !user.nil? && OpenSSL.fixed_length_secure_compare(ShopApp.sha256(password), user[:password_sha256])
    unless ok
      agent&.track_login(false, { key: user ? user[:id] : (username.empty? ? 'unknown' : username), identifiers: { 'login' => username } }, env)
      halt 401, { 'content-type' => 'application/json' }, JSON.generate('ok' => false, 'error' => 'invalid username or password')
    end
    agent&.track_login(true, { key: user[:id], identifiers: { 'login' => username, 'email' => user[:email] } }, env)
    token = SecureRandom.urlsafe_base64(18)
    SESSIONS_LOCK.synchronize do
      SESSIONS.delete(SESSIONS.first[0]) if SESSIONS.size >= MAX_SESSIONS
      SESSIONS[token] = username
    end
    response.set_cookie('sid', value: token, httponly: true, same_site: :lax, path: '/')
    content_type :json
    JSON.generate('ok' => true, 'user' => username, 'token' => token)
  end

  post '/logout' do
    token = SID.match(env['HTTP_COOKIE'].to_s)&.[](1)
    SESSIONS_LOCK.synchronize { SESSIONS.delete(token) } if token
    response.delete_cookie('sid')
    content_type :json
    JSON.generate('ok' => true)
  end

  get '/search' do
    q = params['q'].is_a?(String) ? params['q'][0, 200] : ''
    terms = q.downcase.split(/\s+/).reject(&:empty?)
    hits = terms.empty? ? [] : PRODUCTS.select { |p| terms.all? { |t| p.downcase.include?(t) } }
    if request.preferred_type('text/html', 'application/json') == 'application/json'
      content_type :json
      return JSON.generate('q' => q, 'results' => hits)
    end
    @title = "Search: #{q}"
    @q = q
    @hits = hits
    erb :search
  end

  get '/files' do
    name = params['name'].is_a?(String) ? params['name'] : ''
    file = FILES[name]
    halt 404, { 'content-type' => 'application/json' }, JSON.generate('error' => 'no such file') unless file
    content_type file[:type]
    file[:body]
  end

  get '/users/:id' do
    id = params['id'].to_s
    entry = DEMO_USERS.find { |_, u| u[:id] == id }
    halt 404, { 'content-type' => 'application/json' }, JSON.generate('error' => 'no such user') unless entry
    content_type :json
    JSON.generate('id' => id, 'name' => entry[1][:name])
  end

  get '/healthz' do
    content_type :json
    JSON.generate('ok' => true)
  end
end
