"""The circuit rules of ``_circuit`` as one Lua script, run atomically inside Redis.

One call records the verdicts of attempts that ended, then admits the first
candidate whose circuit lets a call through (with ``force``, the soonest to
reopen if none does): the same `consult` as the pure model, line for line, in
milliseconds of one clock - Redis's own (``TIME``), or the caller's if given
(tests). A probe's lease is the circuit's ``probing`` flag with its
``reopen`` time, taken and released inside the script, so across the fleet
exactly one caller holds it; it lapses on its own after one cooldown.

Keys (all under the hash tag ``{prefix}``, so one script may touch every
candidate, on one Redis Cluster shard):

- ``{prefix}:identities`` - a set of the identities written, for snapshots;
- ``{prefix}:circuit:<identity>`` - a hash: ``s`` state, ``f`` consecutive
  failures, ``e`` last error, ``r`` reopen time (ms), ``p`` probing, ``q`` a
  sequence for call records;
- ``{prefix}:calls:<identity>``, ``{prefix}:fails:<identity>`` - sorted sets
  of the calls and failures in the failure-rate window (only with a rate).

Every key written gets an expiry (``ttl``, or longer while a circuit is
open), so identities no longer used disappear; a success on a circuit with
nothing to forget writes nothing.

KEYS: identities set, then three per identity (circuit, calls, fails).
ARGV: now_ms ("" = Redis TIME), threshold, cooldown_ms, rate ("" = none),
window_ms, min_calls, ttl_ms, force (0/1), n identities and their names,
n verdicts and per verdict (identity number, outcome "1"/"0"/"", age_ms,
error, retry_after_ms or ""), n candidates and their identity numbers.

Returns: chosen candidate (0-based, -1 for none), probe (0/1), then per
identity: state, failures, error, reopen in ms from now ("" for none),
probing (0/1); then per candidate its wait in ms.
"""

from __future__ import annotations

__all__ = ["CONSULT"]

CONSULT = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local threshold = tonumber(ARGV[2])
local cooldown = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local min_calls = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local force = ARGV[8] == '1'
local n_ids = tonumber(ARGV[9])
local names = {}
for j = 1, n_ids do names[j] = ARGV[9 + j] end

local function hkey(j) return KEYS[2 + 3 * (j - 1)] end
local function ckey(j) return KEYS[3 + 3 * (j - 1)] end
local function fkey(j) return KEYS[4 + 3 * (j - 1)] end

local C = {}
local function load(j)
  if C[j] then return C[j] end
  local v = redis.call('HMGET', hkey(j), 's', 'f', 'e', 'r', 'p')
  local c = {s = v[1] or 'closed', f = tonumber(v[2] or '0'), e = v[3] or false,
             r = tonumber(v[4] or ''), p = v[5] == '1', dirty = false}
  C[j] = c
  return c
end

local function later(a, b)
  if a == nil then return b end
  if b == nil then return a end
  return math.max(a, b)
end

local function wait(c, at)
  if (c.s == 'half_open' and not c.p) or c.r == nil then return 0 end
  return math.max(0, c.r - at)
end

local function open(c, failures, err, reopen)
  c.s, c.f, c.e, c.r, c.p, c.dirty = 'open', failures, err, reopen, false, true
end

local function rate_exceeded(j)
  if rate == nil then return false end
  local total = redis.call('ZCARD', ckey(j))
  if total < min_calls then return false end
  return redis.call('ZCARD', fkey(j)) / total >= rate
end

local function record(j, outcome, t, err, retry)
  local c = load(j)
  if outcome == '' then
    if c.p then c.p, c.dirty = false, true end
    return
  end
  local failed = outcome == '0'
  if rate ~= nil then
    local member = tostring(t) .. ':' .. redis.call('HINCRBY', hkey(j), 'q', 1)
    redis.call('ZADD', ckey(j), t, member)
    if failed then redis.call('ZADD', fkey(j), t, member) end
    redis.call('ZREMRANGEBYSCORE', ckey(j), '-inf', t - window)
    redis.call('ZREMRANGEBYSCORE', fkey(j), '-inf', t - window)
    c.dirty = true
  end
  if not failed then
    local lapsed = c.r == nil or t >= c.r
    if c.s == 'open' and not lapsed then return end
    if c.s == 'closed' and c.f == 0 and c.r == nil then return end  -- nothing to change
    c.dirty = true
    if c.s == 'closed' and not lapsed then
      c.f = 0
      return
    end
    c.s, c.f, c.e, c.r, c.p = 'closed', 0, false, nil, false
    return
  end
  local failures = c.f + 1
  local hold = nil
  if retry ~= nil then hold = t + retry end
  if c.s == 'half_open' then return open(c, failures, err, later(t + cooldown, hold)) end
  if c.s == 'open' then return open(c, failures, err, later(c.r, hold)) end
  if failures >= threshold or rate_exceeded(j) then
    return open(c, failures, err, later(t + cooldown, hold))
  end
  local held = nil
  if c.r ~= nil and c.r > t then held = c.r end
  c.f, c.e, c.r, c.dirty = failures, err, later(held, hold), true
end

local function admit(j, forced)
  local c = load(j)
  if c.s == 'closed' then return forced or wait(c, now) == 0, false end
  if forced or wait(c, now) == 0 then
    c.s, c.p, c.r, c.dirty = 'half_open', true, now + cooldown, true
    return true, true
  end
  return false, false
end

local at = 10 + n_ids
local n_verdicts = tonumber(ARGV[at])
for _ = 1, n_verdicts do
  local j, outcome, age = tonumber(ARGV[at + 1]), ARGV[at + 2], tonumber(ARGV[at + 3])
  local err, retry = ARGV[at + 4], tonumber(ARGV[at + 5])
  if err == '' then err = false end
  record(j, outcome, now - age, err, retry)
  at = at + 5
end
local n_candidates = tonumber(ARGV[at + 1])
local candidates, waits = {}, {}
for k = 1, n_candidates do
  candidates[k] = tonumber(ARGV[at + 1 + k])
  waits[k] = wait(load(candidates[k]), now)
end
local chosen, probe = -1, 0
for k = 1, n_candidates do
  local allowed, probing = admit(candidates[k], false)
  if allowed then
    chosen, waits[k] = k, 0
    if probing then probe = 1 end
    break
  end
end
if chosen == -1 and force and n_candidates > 0 then
  chosen = 1
  for k = 2, n_candidates do
    if waits[k] < waits[chosen] then chosen = k end
  end
  admit(candidates[chosen], true)
  if load(candidates[chosen]).s ~= 'closed' then probe = 1 end
end

local out = {-1, probe}
if chosen > 0 then out[1] = chosen - 1 end
for j = 1, n_ids do
  local c = load(j)
  if c.dirty then
    redis.call('HSET', hkey(j), 's', c.s, 'f', c.f, 'p', c.p and '1' or '0')
    if c.e then redis.call('HSET', hkey(j), 'e', c.e) else redis.call('HDEL', hkey(j), 'e') end
    if c.r ~= nil then
      redis.call('HSET', hkey(j), 'r', c.r)
    else
      redis.call('HDEL', hkey(j), 'r')
    end
    local keep = ttl
    if c.r ~= nil and c.r > now then keep = keep + (c.r - now) end
    redis.call('PEXPIRE', hkey(j), math.ceil(keep))
    if rate ~= nil then
      redis.call('PEXPIRE', ckey(j), math.ceil(keep))
      redis.call('PEXPIRE', fkey(j), math.ceil(keep))
    end
    redis.call('SADD', KEYS[1], names[j])
    if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], math.ceil(keep)) end
  end
  local reopen = ''
  if c.r ~= nil then reopen = tostring(c.r - now) end
  table.insert(out, c.s)
  table.insert(out, tostring(c.f))
  table.insert(out, c.e or '')
  table.insert(out, reopen)
  table.insert(out, c.p and '1' or '0')
end
for k = 1, n_candidates do table.insert(out, tostring(waits[k])) end
return out
"""
