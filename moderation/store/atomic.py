"""Writes that take one round trip: the commands of a change are recorded in Python (by the
same code that would queue them on a MULTI), then a Lua script checks the change's guard and
applies them, atomically, on the server.

Why not WATCH/MULTI: an optimistic transaction costs three round trips (WATCH, the reads,
MULTI..EXEC) per comment, and a batch of verdicts cannot share one without one comment's
change aborting all of them. A script runs alone on the server, so the guard it checks
still holds when the commands after it run, and each comment of a batch keeps its own guard.

What the scripts know is only "check this, then run these commands": key names and what a
change writes stay in the store's Python code. Like MULTI/EXEC, a script does not roll back
a command that fails at run time; the commands recorded here are well-formed by
construction. The scripts touch keys they are not given in KEYS, which standalone Redis and
Sentinel allow (Redis Cluster does not; the service's transactions already span slots).
"""

from __future__ import annotations

from typing import Any

# Shared by the scripts: ARGV from `i` holds `n, argc1, args1..., argc2, args2...`; run (or
# skip) the n commands and return the index after them.
_COMMANDS_LUA = """
local function commands(i, apply)
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    local argc = tonumber(ARGV[i])
    if apply then
      redis.call(unpack(ARGV, i + 1, i + argc))
    end
    i = i + 1 + argc
  end
  return i
end
"""

# A request's rate limits (ratelimit.Gate). ARGV 1-5: failures key ('' = not checked),
# failures limit, requests key ('' = not counted), requests limit, requests key ttl (s).
# The address's failures are only read (counted on a failed authentication); the key's
# requests are counted unless the address is refused. Returns {'address'} or {'key'} from
# the snippet when a limit says no.
_GATE_SNIPPET = """
if ARGV[1] ~= '' then
  local failed = tonumber(redis.call('GET', ARGV[1]) or '0')
  if failed >= tonumber(ARGV[2]) then return {'address'} end
end
if ARGV[3] ~= '' then
  local count = redis.call('INCR', ARGV[3])
  redis.call('EXPIRE', ARGV[3], ARGV[5])
  if count > tonumber(ARGV[4]) then return {'key'} end
end
"""

GATE_LUA = _GATE_SNIPPET + "return {'open'}\n"

# Ingest (POST /v1/comments): the gate, then create-if-absent. ARGV 1-5: the gate; 6: the
# comment's key; then the commands that store the comment. Returns the gate's refusal
# (nothing written), {'created'}, or {'exists', field, value, ...}: the stored hash as it is.
INGEST_LUA = (
    _COMMANDS_LUA
    + _GATE_SNIPPET
    + """
if redis.call('EXISTS', ARGV[6]) == 1 then
  local out = redis.call('HGETALL', ARGV[6])
  table.insert(out, 1, 'exists')
  return out
end
commands(7, true)
return {'created'}
"""
)

# A batch of changes, each applied only if the fields it was decided on are unchanged.
# ARGV: the number of changes, then per change: key, n fields, the field names, their
# expected values (each '1' .. value, or '0' for absent), then its commands.
# Returns one 1 (applied) or 0 (changed since read: not applied) per change.
APPLY_IF_UNCHANGED_LUA = (
    _COMMANDS_LUA
    + """
local out = {}
local i = 2
for c = 1, tonumber(ARGV[1]) do
  local key = ARGV[i]
  local nf = tonumber(ARGV[i + 1])
  local fields = {unpack(ARGV, i + 2, i + 1 + nf)}
  local current = redis.call('HMGET', key, unpack(fields))
  local same = true
  for f = 1, nf do
    local want = ARGV[i + 1 + nf + f]
    local have = current[f]
    if have then have = '1' .. have else have = '0' end
    if have ~= want then same = false end
  end
  i = commands(i + 2 + 2 * nf, same)
  out[c] = same and 1 or 0
end
return out
"""
)


def recorder(client: Any) -> Any:
    """A pipeline that is never executed: the store's code queues a change's commands on it
    exactly as on a MULTI, and `commands` reads them back for a script."""
    return client.pipeline(transaction=False)


def commands(pipe: Any) -> list[Any]:
    """The recorded commands as script arguments: `n, argc1, args1..., ...`."""
    out: list[Any] = [len(pipe.command_stack)]
    for args, _options in pipe.command_stack:
        out.append(len(args))
        out.extend(args)
    return out


def expected(values: list[str | None]) -> list[str]:
    """Field values as APPLY_IF_UNCHANGED_LUA compares them (absent is not the same as '')."""
    return ["0" if v is None else "1" + v for v in values]
