"""Where every server process keeps its users' presence, so that each user's is the union.

Each process puts, per user with sockets there, one entry: "active" or "away" and when the user
was last active on it. A user is shown active when any live process has them active, away when
any has them connected, offline otherwise, and offline to others while invisible. A process
renews its liveness every third of the TTL; one that stops (killed, cut off) is reaped by the
next live process that renews after the TTL: its entries go, and the users whose shown state
that changes are announced, so nobody stays "online forever".

Two stores with one behaviour: in memory for the embedded default (one process), and Redis in
production, where each step is one Lua script, so that the union and the "did what others see
change?" decision are atomic: of two processes changing the same user, one announces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ACTIVE = "active"
AWAY = "away"
OFFLINE = "offline"
STATES = (ACTIVE, AWAY)
# A user's entry lives on at most this long after its last write (a user nobody touched for a
# week has no presence worth keeping; "last active" is in the database too).
USER_KEY_TTL_SECONDS = 7 * 24 * 3600
STORE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Shown:
    """What others see of a user: the state, and when the user was last active (epoch seconds,
    None when unknown or hidden)."""

    user_id: int
    state: str
    last_active: float | None
    # Grows with every change of what others see (at least to the change's time in ms, so a
    # store that lost its data starts above what hubs remember): the newest state wins.
    version: int = 0


class PresenceStore(Protocol):
    async def put(
        self,
        process: str,
        user_id: int,
        state: str | None,
        last_active: float | None,
        invisible: bool | None,
        now: float,
        ttl: float,
    ) -> Shown | None:
        """Set (or with `state` None, remove) this process's entry for the user, and the user's
        invisibility (None: leave it); the user's new shown state when it changed (the caller
        announces it), else None."""

    async def beat(self, process: str, now: float, ttl: float) -> tuple[bool, list[Shown]]:
        """Renew this process's liveness and reap dead processes: whether this process was
        still known (False: it was reaped, its entries are gone), and the users whose shown
        state the reaping changed."""

    async def read(self, user_ids: list[int], now: float, ttl: float) -> dict[int, Shown]:
        """The users' shown state (absent: never seen, offline)."""

    async def close(self) -> None: ...


# --- in memory -----------------------------------------------------------------------------------


@dataclass
class _UserEntry:
    processes: dict[str, tuple[str, float | None]]
    invisible: bool = False
    shown: str = OFFLINE
    last: float | None = None
    version: int = 0


class MemoryPresenceStore:
    """The embedded default: one process, so every socket is here; tests give several process
    names to one store to play a cluster."""

    def __init__(self):
        self.users: dict[int, _UserEntry] = {}
        self.alive: dict[str, float] = {}
        self.members: dict[str, set[int]] = {}

    async def put(self, process, user_id, state, last_active, invisible, now, ttl):
        # A write never makes its process live again: only its beat does, which then says the
        # process was taken for dead (so that it puts all its users back).
        entry = self.users.setdefault(user_id, _UserEntry(processes={}))
        if state is None:
            entry.processes.pop(process, None)
            self.members.get(process, set()).discard(user_id)
            if last_active is not None and (entry.last is None or last_active > entry.last):
                entry.last = last_active  # the socket that closed was the last one active
        else:
            entry.processes[process] = (state, last_active)
            self.members.setdefault(process, set()).add(user_id)
        if invisible is not None:
            entry.invisible = invisible
        return self._changed(user_id, entry, now, ttl)

    async def beat(self, process, now, ttl):
        renewed = process in self.alive
        self.alive[process] = now
        changed = []
        for dead in [p for p, at in self.alive.items() if at < now - ttl]:
            del self.alive[dead]
            for user_id in self.members.pop(dead, set()):
                entry = self.users.get(user_id)
                if entry is None:
                    continue
                entry.processes.pop(dead, None)
                shown = self._changed(user_id, entry, now, ttl)
                if shown is not None:
                    changed.append(shown)
        return renewed, changed

    async def read(self, user_ids, now, ttl):
        found = {}
        for user_id in user_ids:
            entry = self.users.get(user_id)
            if entry is not None:
                state, last = self._union(entry, now, ttl)
                found[user_id] = Shown(user_id, state, None if entry.invisible else last, entry.version)
        return found

    async def close(self):
        pass

    def _union(self, entry: _UserEntry, now: float, ttl: float) -> tuple[str, float | None]:
        best, last = None, entry.last
        for process, (state, active_at) in entry.processes.items():
            if self.alive.get(process, float("-inf")) < now - ttl:
                continue
            if state == ACTIVE:
                best = ACTIVE
            elif best is None:
                best = AWAY
            if active_at is not None and (last is None or active_at > last):
                last = active_at
        entry.last = last
        return (OFFLINE if entry.invisible else best or OFFLINE), last

    def _changed(self, user_id: int, entry: _UserEntry, now: float, ttl: float) -> Shown | None:
        state, last = self._union(entry, now, ttl)
        if state == entry.shown:
            return None
        entry.shown = state
        entry.version = max(entry.version + 1, int(now * 1000))
        return Shown(user_id, state, None if entry.invisible else last, entry.version)


# --- Redis ---------------------------------------------------------------------------------------

# The union of a user's live entries: what others see, and whether it changed; with `record`
# (a write, whose caller announces the change) it is remembered as announced. A read never records:
# a change only it saw would never be announced.
_UNION = """
-- The time: Redis's own unless the caller gives one (tests): every process's entries are then
-- judged by one clock, so a process whose clock runs ahead cannot reap live ones.
local function clock(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function shown_of(user, procs, now, ttl, record)
  local all = redis.call('HGETALL', user)
  local best, last, lastnum, inv, shown, version = nil, nil, nil, '0', 'offline', 0
  for i = 1, #all, 2 do
    local k, v = all[i], all[i + 1]
    if k == 'inv' then inv = v
    elseif k == 'shown' then shown = v
    elseif k == 'v' then version = tonumber(v)
    elseif k == 'last' then
      local n = tonumber(v)
      if n and (lastnum == nil or n > lastnum) then last, lastnum = v, n end
    elseif string.sub(k, 1, 2) == 'p:' then
      local score = redis.call('ZSCORE', procs, string.sub(k, 3))
      if score and tonumber(score) >= now - ttl then
        local sep = string.find(v, '|', 1, true)
        local state, at = string.sub(v, 1, sep - 1), string.sub(v, sep + 1)
        if state == 'active' then best = 'active' elseif best == nil then best = 'away' end
        local n = tonumber(at)
        if n and (lastnum == nil or n > lastnum) then last, lastnum = at, n end
      end
    end
  end
  if last and record then redis.call('HSET', user, 'last', last) end
  local now_shown = best or 'offline'
  if inv == '1' then now_shown = 'offline'; last = nil end
  local changed = 0
  if now_shown ~= shown and record then
    version = math.max(version + 1, math.floor(now * 1000))
    redis.call('HSET', user, 'shown', now_shown, 'v', string.format('%d', version))
    changed = 1
  end
  return {now_shown, last or '', changed, string.format('%d', version)}
end
"""

_PUT = (
    _UNION
    + """
local user, members, procs = KEYS[1], KEYS[2], KEYS[3]
local process, uid, state, at, inv = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, ttl, keep = clock(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local field = 'p:' .. process
if state == '' then
  redis.call('HDEL', user, field)
  redis.call('SREM', members, uid)
  local n = tonumber(at)
  if n and n > (tonumber(redis.call('HGET', user, 'last') or '') or -1) then
    redis.call('HSET', user, 'last', at)
  end
else
  redis.call('HSET', user, field, state .. '|' .. at)
  redis.call('SADD', members, uid)
end
if inv ~= '' then redis.call('HSET', user, 'inv', inv) end
redis.call('EXPIRE', user, keep)
return shown_of(user, procs, now, ttl, true)
"""
)

_BEAT = (
    _UNION
    + """
local procs, prefix = KEYS[1], ARGV[1]
local process, now, ttl = ARGV[2], clock(ARGV[3]), tonumber(ARGV[4])
local renewed = redis.call('ZSCORE', procs, process) and 1 or 0
redis.call('ZADD', procs, now, process)
local out = {renewed}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', procs, '-inf', '(' .. tostring(now - ttl))) do
  -- ZREM is the claim: of the processes reaping at once, one gets each dead one.
  if redis.call('ZREM', procs, dead) == 1 then
    local members = prefix .. 'proc:' .. dead
    for _, uid in ipairs(redis.call('SMEMBERS', members)) do
      local user = prefix .. 'u:' .. uid
      redis.call('HDEL', user, 'p:' .. dead)
      local r = shown_of(user, procs, now, ttl, true)
      if r[3] == 1 then
        table.insert(out, uid)
        table.insert(out, r[1])
        table.insert(out, r[2])
        table.insert(out, r[4])
      end
    end
    redis.call('DEL', members)
  end
end
return out
"""
)

_READ = (
    _UNION
    + """
local procs, prefix, now, ttl = KEYS[1], ARGV[1], clock(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV do
  local user = prefix .. 'u:' .. ARGV[i]
  if redis.call('EXISTS', user) == 1 then
    local r = shown_of(user, procs, now, ttl, false)
    table.insert(out, ARGV[i])
    table.insert(out, r[1])
    table.insert(out, r[2])
    table.insert(out, r[4])
  end
end
return out
"""
)


class RedisPresenceStore:
    """Production: one Redis for every process (the channel layer's). Keys under `prefix`:
    `u:<user>` a hash of each process's entry (`p:<process>` = "state|last active"), `inv`,
    `shown` (last announced) and `last`; `proc:<process>` the users a process has entries for;
    `procs` a sorted set of processes by their last renewal."""

    def __init__(self, url: str, prefix: str = "parley:presence:", *, server_clock: bool = True):
        import redis.asyncio as redis

        # Timeouts: a Redis that hangs must cost presence its news, never hold a socket.
        self.redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=STORE_TIMEOUT_SECONDS,
            socket_connect_timeout=STORE_TIMEOUT_SECONDS,
        )
        self.prefix = prefix
        # Redis's clock judges liveness (the callers' `now` only when told: tests drive time).
        self.server_clock = server_clock
        self._put = self.redis.register_script(_PUT)
        self._beat = self.redis.register_script(_BEAT)
        self._read = self.redis.register_script(_READ)

    @property
    def procs_key(self) -> str:
        return f"{self.prefix}procs"

    async def put(self, process, user_id, state, last_active, invisible, now, ttl):
        keys = [f"{self.prefix}u:{user_id}", f"{self.prefix}proc:{process}", self.procs_key]
        args = [
            process,
            user_id,
            state or "",
            _number(last_active),
            "" if invisible is None else int(invisible),
            self._now(now),
            ttl,
            USER_KEY_TTL_SECONDS,
        ]
        state, last, changed, version = await self._put(keys=keys, args=args)
        return Shown(user_id, state, _float(last), int(version)) if int(changed) else None

    async def beat(self, process, now, ttl):
        renewed, *flat = await self._beat(
            keys=[self.procs_key], args=[self.prefix, process, self._now(now), ttl]
        )
        return bool(int(renewed)), _shown_of(flat)

    async def read(self, user_ids, now, ttl):
        if not user_ids:
            return {}
        flat = await self._read(keys=[self.procs_key], args=[self.prefix, self._now(now), ttl, *user_ids])
        return {shown.user_id: shown for shown in _shown_of(flat)}

    def _now(self, now: float) -> str:
        return "" if self.server_clock else repr(now)

    async def close(self):
        await self.redis.aclose()


def _shown_of(flat: list) -> list[Shown]:
    """The scripts' flat answers: user, state, last active, version, user, state, …"""
    return [
        Shown(int(flat[i]), flat[i + 1], _float(flat[i + 2]), int(flat[i + 3]))
        for i in range(0, len(flat), 4)
    ]


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def _float(text: str) -> float | None:
    return float(text) if text else None
