"""The Lua scripts of the shared generic queues (stompim.cluster.queues).

Each runs atomically in Redis, so a check and the change it guards cannot be split by
another node: the depth and queue-count caps of a SEND, the give-back of an entry only
while this node still owns it, the refresh of a lease only while it is still ours.
They use the stream commands of Redis >= 6.2 (XAUTOCLAIM is called from Python).

Stream entry fields: ``h`` the user headers (JSON list of pairs), ``b`` the body, and
on an entry given back: ``r`` "1" (redelivered), ``i`` the message id it had first
(the MESSAGE's message-id stays the same), ``a`` the subscription that returned it (a
node prefers another consumer for it).
"""

from __future__ import annotations

__all__ = ["ACK", "ENSURE_GROUP", "EXPIRE", "GIVE_BACK", "SEND", "TOUCH"]

SEND = """
-- KEYS: stream, queue set.  ARGV: name, max depth, max queues, then headers and body
-- of each message, in order.  One answer per message: its entry id, or -1 (the queue
-- is full) or -2 (too many queues).
local len = redis.call('XLEN', KEYS[1])
local known = len > 0 or redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1
local depth = tonumber(ARGV[2])
local out = {}
for i = 4, #ARGV, 2 do
  if not known and redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then
    out[#out + 1] = -2
  elseif len >= depth then
    out[#out + 1] = -1
  else
    out[#out + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', depth, '*',
                               'h', ARGV[i], 'b', ARGV[i + 1])
    len = len + 1
    if not known then
      redis.call('SADD', KEYS[2], ARGV[1])
      known = true
    end
  end
end
if known then redis.call('PERSIST', KEYS[1]) end
return out
"""

ACK = """
-- KEYS: stream, queue set.  ARGV: group, name, idle key ms, entry ids...
-- Consumed (or expired): out of the group's pending list and out of the stream.  An
-- emptied queue leaves the set and its key lapses after the idle time (a SEND keeps it).
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 4))
redis.call('XDEL', KEYS[1], unpack(ARGV, 4))
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return n
"""

GIVE_BACK = """
-- KEYS: stream, queue set.  ARGV: group, consumer, name, avoid tag, mark ("1": now
-- redelivered, "": keep), entry ids...  Each entry this consumer still owns is
-- acknowledged, deleted and added again at the tail (any node's consumer may take it);
-- one another node claimed meanwhile is left to that node.  Returns how many moved.
local moved = 0
for i = 6, #ARGV do
  local id = ARGV[i]
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
  if #owned > 0 then
    local entry = redis.call('XRANGE', KEYS[1], id, id)
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    if #entry > 0 then
      local f = entry[1][2]
      local h, b, r, first = '[]', '', '', id
      for j = 1, #f, 2 do
        if f[j] == 'h' then h = f[j + 1]
        elseif f[j] == 'b' then b = f[j + 1]
        elseif f[j] == 'r' then r = f[j + 1]
        elseif f[j] == 'i' then first = f[j + 1] end
      end
      if ARGV[5] ~= '' then r = ARGV[5] end
      redis.call('XADD', KEYS[1], '*', 'h', h, 'b', b, 'r', r, 'i', first, 'a', ARGV[4])
      redis.call('SADD', KEYS[2], ARGV[3])
      redis.call('PERSIST', KEYS[1])
      moved = moved + 1
    end
  end
end
return moved
"""

TOUCH = """
-- KEYS: stream.  ARGV: group, consumer, entry ids...  Resets the idle time of each
-- entry this consumer still owns (its lease: others claim only entries idle longer
-- than the visibility timeout).  Returns the ids it no longer owns.
local lost = {}
for i = 3, #ARGV do
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #owned > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
"""

ENSURE_GROUP = """
-- KEYS: stream.  ARGV: group, idle key ms.  The group reads from the first entry, so
-- what was sent before any consumer came is delivered; an empty key lapses when idle.
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if redis.call('XLEN', KEYS[1]) == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""

EXPIRE = """
-- KEYS: queue set, streams...  ARGV: group, deadline ms, limit per stream, idle key
-- ms, names (in KEYS order)...  Deletes entries queued before the deadline that no
-- consumer took yet (past the group's last delivered id; a delivered, unacknowledged
-- entry is not expired), at most `limit` per stream; forgets group consumers (nodes)
-- that hold nothing and were idle longer than the idle key time (a live one that reads
-- again is added back by Redis).  Returns how many entries.
local total = 0
for k = 2, #KEYS do
  local key = KEYS[k]
  local start = '-'
  local groups = redis.pcall('XINFO', 'GROUPS', key)
  if type(groups) == 'table' and groups.err == nil then
    for _, g in ipairs(groups) do
      local name, last = nil, nil
      for j = 1, #g, 2 do
        if g[j] == 'name' then name = g[j + 1]
        elseif g[j] == 'last-delivered-id' then last = g[j + 1] end
      end
      if name == ARGV[1] and last ~= nil then start = '(' .. last end
    end
  end
  local consumers = redis.pcall('XINFO', 'CONSUMERS', key, ARGV[1])
  if type(consumers) == 'table' and consumers.err == nil then
    for _, c in ipairs(consumers) do   -- nodes gone long ago, holding nothing
      local name, pending, idle = nil, 0, 0
      for j = 1, #c, 2 do
        if c[j] == 'name' then name = c[j + 1]
        elseif c[j] == 'pending' then pending = c[j + 1]
        elseif c[j] == 'idle' then idle = c[j + 1] end
      end
      if name ~= nil and pending == 0 and idle > tonumber(ARGV[4]) then
        redis.call('XGROUP', 'DELCONSUMER', key, ARGV[1], name)
      end
    end
  end
  local old = redis.call('XRANGE', key, start, ARGV[2], 'COUNT', ARGV[3])
  for _, e in ipairs(old) do
    redis.call('XDEL', key, e[1])
    total = total + 1
  end
  if redis.call('XLEN', key) == 0 then
    redis.call('SREM', KEYS[1], ARGV[3 + k])
    if redis.call('EXISTS', key) == 1 then redis.call('PEXPIRE', key, ARGV[4]) end
  end
end
return total
"""
