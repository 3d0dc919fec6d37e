-- The key-state rules of state.go, in Redis: every script below starts with
-- this prelude. Times are milliseconds of the Redis server's clock (TIME),
-- so that every instance sees one clock. A key's state is three Redis keys:
--
--   <prefix>k:<id>  string: the counters and health, as JSON (see load)
--   <prefix>e:<id>  list: the rolling minute, bins of starts "start n tokens",
--                   oldest first; expires 61 s after its last start
--   <prefix>f:<id>  sorted set: requests in flight, lease id -> expiry; an
--                   instance renews its leases, so a crashed instance's
--                   slots free themselves when their leases expire
--
-- Field sn is the sequence number of the next bin and rs the first one
-- after the last reset (the list's head is bin sn - LLEN), as in keyState.
-- Milliseconds keep every number below 10^14, which JSON (cjson prints 14
-- digits) and tostring hold exactly.

-- MINUTE, BIN, RETRY_AFTER_MAX, B429_BASE, B429_MAX, FAILS, BFAIL_BASE and
-- BFAIL_MAX (milliseconds, counts) come from pool's Go constants: remote.go
-- puts their definitions ahead of this file, so the two storages cannot
-- drift apart.

local function num(x) return tonumber(x) or 0 end
local str = tostring

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The stored fields: minute requests and tokens (mr, mt), the day (yyyymmdd)
-- and its requests and tokens (dr, dt), totals (r, t), the latest start
-- (last), health (st, reason, ut: until), failure and 429 streaks (fail,
-- n429), bin sequence (sn, rs) and when the newest bin opened (bo).
local NUMS = {'mr', 'mt', 'day', 'dr', 'dt', 'r', 't', 'last', 'ut', 'fail', 'n429', 'sn', 'rs', 'bo'}

local function load(h)
  local raw = redis.call('GET', h)
  local s = {}
  if raw then s = cjson.decode(raw) end
  for _, f in ipairs(NUMS) do s[f] = num(s[f]) end
  s.st = s.st or 'active'
  s.reason = s.reason or ''
  return s
end

local function save(h, s)
  local o = {st = s.st, reason = s.reason}
  for _, f in ipairs(NUMS) do
    if s[f] ~= 0 then o[f] = s[f] end
  end
  redis.call('SET', h, cjson.encode(o))
end

local function parse(ev)
  local a, b, c = string.match(ev, '^(%-?%d+) (%-?%d+) (%-?%d+)$')
  return tonumber(a), tonumber(b), tonumber(c)
end

-- today is the calendar day at now: the caller's day until its end, then
-- the next one (the instance computes days in its timezone).
local function today(now, a)
  local day, dayEnd, nextDay, nextEnd = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if now >= dayEnd then
    return nextDay, nextEnd
  end
  return day, dayEnd
end

-- sync brings the state to now: old bins leave the minute, a new day
-- zeroes the day counters, an expired cooldown or exhaustion ends.
local function sync(s, e, now, day)
  local cutoff = now - MINUTE
  local n = redis.call('LLEN', e)
  while n > 0 do
    local st, c, tk = parse(redis.call('LINDEX', e, 0))
    if st > cutoff then break end
    redis.call('LPOP', e)
    s.mr, s.mt, n = s.mr - c, s.mt - tk, n - 1
    s.dirty = true
  end
  if n == 0 and (s.mr ~= 0 or s.mt ~= 0) then
    s.mr, s.mt, s.dirty = 0, 0, true
  end
  s.n = n
  if s.day < day then
    s.day, s.dr, s.dt, s.dirty = day, 0, 0, true
  end
  if (s.st == 'cooling' or s.st == 'exhausted') and s.ut <= now then
    s.st, s.reason, s.ut, s.dirty = 'active', '', 0, true
  end
end

-- block is keyState.block: the latest moment a blocker bound to time
-- clears (0: none), and whether every concurrency slot is taken. s.fl is
-- the number of requests in flight once counted (expired leases dropped).
local function block(s, e, f, lim, now, est, midnight)
  local u = 0
  local function later(t)
    if t > now and t > u then u = t end
  end
  if s.st == 'cooling' or s.st == 'exhausted' then later(s.ut) end
  if (lim.rpm > 0 and s.mr >= lim.rpm) or (lim.tpm > 0 and s.mt > 0 and s.mt + est > lim.tpm) then
    local evs = redis.call('LRANGE', e, 0, -1)
    if lim.rpm > 0 and s.mr >= lim.rpm then
      local leave = s.mr - lim.rpm + 1
      for _, ev in ipairs(evs) do
        local st, c = parse(ev)
        leave = leave - c
        if leave <= 0 then later(st + MINUTE) break end
      end
    end
    if lim.tpm > 0 and s.mt > 0 and s.mt + est > lim.tpm then
      local left = s.mt
      for _, ev in ipairs(evs) do
        local st, _, tk = parse(ev)
        left = left - tk
        if left <= 0 or left + est <= lim.tpm then later(st + MINUTE) break end
      end
    end
  end
  if lim.rpd > 0 and s.dr >= lim.rpd then later(midnight) end
  if lim.tpd > 0 and s.dt > 0 and s.dt + est > lim.tpd then later(midnight) end
  if lim.iv > 0 and s.last ~= 0 and now - s.last < lim.iv then later(s.last + lim.iv) end
  local full = 0
  if lim.conc > 0 then
    if not s.fl then
      redis.call('ZREMRANGEBYSCORE', f, '-inf', str(now))
      s.fl = redis.call('ZCARD', f)
    end
    if s.fl >= lim.conc then full = 1 end
  end
  return u, full
end

local function limitsAt(a)
  return {rpm = num(ARGV[a]), rpd = num(ARGV[a + 1]), tpm = num(ARGV[a + 2]), tpd = num(ARGV[a + 3]),
    iv = num(ARGV[a + 4]), conc = num(ARGV[a + 5])}
end

-- admit records a start of est tokens under lease (kept until now + ttl)
-- and returns its bin's sequence number.
local function admit(s, e, f, now, est, lease, ttl)
  local start, seq = now, nil
  if s.n > 0 then
    local ls, lc, lt = parse(redis.call('LINDEX', e, -1))
    if ls > start then start = ls end -- the clock stepped back
    if start - s.bo < BIN then
      redis.call('LSET', e, -1, str(start) .. ' ' .. str(lc + 1) .. ' ' .. str(lt + est))
      seq = s.sn - 1
    end
  end
  if not seq then
    redis.call('RPUSH', e, str(start) .. ' 1 ' .. str(est))
    seq, s.sn, s.bo, s.n = s.sn, s.sn + 1, start, s.n + 1
  end
  redis.call('PEXPIRE', e, 61000)
  s.mr, s.mt, s.dr, s.dt, s.r, s.last = s.mr + 1, s.mt + est, s.dr + 1, s.dt + est, s.r + 1, now
  if lease ~= '' then
    redis.call('ZADD', f, str(now + ttl), lease)
    redis.call('PEXPIRE', f, str(ttl + 10000))
    if s.fl then s.fl = s.fl + 1 end
  end
  return seq
end

-- settle replaces the reservation of est tokens by the actual ones.
local function settle(s, e, seq, day, est, actual)
  s.t = s.t + actual
  if seq < s.rs then
    if s.day == day then s.dt = s.dt + actual end
    return
  end
  local s0 = s.sn - s.n
  if seq >= s0 and seq < s.sn then
    local st, c, tk = parse(redis.call('LINDEX', e, seq - s0))
    redis.call('LSET', e, seq - s0, str(st) .. ' ' .. str(c) .. ' ' .. str(tk + actual - est))
    s.mt = s.mt + actual - est
  end
  if s.day == day then s.dt = s.dt + actual - est end
end

local function backoff(base, n, limit)
  local d = base
  while n > 0 and d < limit do
    d, n = d * 2, n - 1
  end
  if d > limit then d = limit end
  return d
end

local function cool(s, u, reason)
  if s.st == 'disabled' or s.st == 'exhausted' then return end
  if s.st == 'cooling' and s.ut > u then u = s.ut end
  s.st, s.reason, s.ut = 'cooling', reason, u
end

-- observe is keyState.observe (ra: Retry-After in ms).
local function observe(s, now, midnight, status, ra, quota, reason)
  if status == 402 or quota == 1 then
    if s.st ~= 'disabled' then s.st, s.reason, s.ut = 'exhausted', 'quota exhausted', midnight end
  elseif status == 401 or status == 403 then
    if reason == '' then reason = status .. ' from upstream' end
    s.st, s.reason, s.ut = 'disabled', reason, 0
  elseif status == 429 then
    s.n429 = s.n429 + 1
    local d = ra
    if d > RETRY_AFTER_MAX then d = RETRY_AFTER_MAX end
    if d <= 0 then d = backoff(B429_BASE, s.n429 - 1, B429_MAX) end
    cool(s, now + d, '429 from upstream')
  elseif status == 0 or status >= 500 then
    s.fail = s.fail + 1
    if s.fail >= FAILS then
      if reason == '' then
        if status == 0 then reason = 'network error' else reason = status .. ' from upstream' end
      end
      cool(s, now + backoff(BFAIL_BASE, s.fail - FAILS, BFAIL_MAX), reason)
    end
  else
    s.fail, s.n429 = 0, 0
  end
end

local function health(s)
  return {s.st, s.reason, s.ut}
end
