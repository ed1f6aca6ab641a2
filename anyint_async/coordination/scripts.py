"""The Lua scripts that keep one account's query budget in Redis, atomically.

Each provider with a known limit has one key: the account's next free send time, on Redis's
own clock (so machines whose clocks disagree still share one schedule). A process asking for
sends gets the next ones, spaced one per ``1/rate`` seconds, within a short horizon: the
generic cell rate algorithm, handed out a few cells at a time. A refusal lowers the rate for
everyone (a second key, which climbs back with time) and pushes the next free send past the
provider's ``Retry-After``. Both keys expire on their own: nothing here must outlive its use.
"""

from __future__ import annotations

from typing import Final

__all__ = ["REFUSED", "TAKE"]

# The rate in force: the configured one, or a cut climbing back towards it.
_RATE: Final = """
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local cut = redis.call('HMGET', KEYS[2], 'rate', 'at')
if cut[1] then
  local climbed = tonumber(cut[1]) + tonumber(ARGV[4]) * rate * (now - tonumber(cut[2]))
  if climbed < rate then rate = climbed end
end
local next_send = tonumber(redis.call('GET', KEYS[1]) or now)
if next_send < now then next_send = now end
"""

#: KEYS: next send, cut. ARGV: rate, sends wanted, horizon (s), climb (share of rate per s).
#: Returns {granted, seconds to the first (or, with none granted, to asking again), step}.
TAKE: Final = (
    _RATE
    + """
local step = 1 / rate
local horizon = tonumber(ARGV[3])
local room = math.floor((now + horizon - next_send) / step) + 1
local granted = math.min(tonumber(ARGV[2]), room)
if granted < 1 then
  return {0, tostring(next_send - now - horizon), tostring(step)}
end
redis.call('SET', KEYS[1], tostring(next_send + granted * step), 'PX', 60000)
return {granted, tostring(next_send - now), tostring(step)}
"""
)

#: KEYS: next send, cut. ARGV: rate, pause (s), back-off share, climb, slowest rate.
#: One cut a second at most, however many processes were refused in it.
REFUSED: Final = (
    _RATE
    + """
local last = redis.call('HGET', KEYS[2], 'at')
if (not last) or now - tonumber(last) >= 1 then
  local lowered = math.max(tonumber(ARGV[5]), rate * tonumber(ARGV[4]))
  redis.call('HSET', KEYS[2], 'rate', tostring(lowered), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[2], 600000)
end
local resume = now + tonumber(ARGV[3])
if resume > next_send then
  redis.call('SET', KEYS[1], tostring(resume), 'PX', 60000)
end
return 1
"""
)
