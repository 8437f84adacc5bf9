-- The requests of `tools/bench --https`: YCSB workloads a and c over the HTTPS API, for wrk.
--
--   ACTORKV_WRK_HISTOGRAM=FILE wrk -t 1 -c N -d S --latency --timeout 10s \
--       -s tools/bench-wrk.lua https://HOST:PORT -- WORKLOAD KEYS DISTRIBUTION TOKEN_FILE SEED
--
-- WORKLOAD a: 50% GET / 50% PUT of 100-byte values; c: 100% GET (b: 95/5 and w: 100% PUT work
-- too). KEYS: the key space kvbench loads, user0000000000 .. user<KEYS-1>. DISTRIBUTION:
-- uniform, or zipfian: kvbench's key choice (YCSB's scrambled zipfian, theta 0.99, over 10^10 + 1
-- ranks, FNV-1a-64 of the rank modulo KEYS; tools/kvbench/workload.cpp), so both drivers hit the
-- same keys as often. TOKEN_FILE holds the bearer token sent as `Authorization: Bearer <token>`
-- (a file, so that the token is on no command line). SEED seeds each thread's math.random.
-- PUTs carry no X-Context: blind overwrites, as kvbench's updates (the cluster must be lww).
-- Every connection is kept alive (HTTP/1.1); wrk counts statuses >= 400 as errors (a GET of an
-- absent key answers 404, so load the key space first). When ACTORKV_WRK_HISTOGRAM is set,
-- done() writes there a line "summary DURATION_US REQUESTS BYTES CONNECT READ WRITE STATUS
-- TIMEOUT" and one line "LATENCY_US COUNT" per latency seen, so that tools/bench can merge the
-- exact latency distribution of several wrk processes (one per node).

local ffi = require("ffi")
local bit = require("bit")

-- setup() and done() run in wrk's main Lua state; each thread has its own for init/request.
local threads = {}
function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- YCSB's ScrambledZipfianGenerator, as tools/kvbench/workload.cpp computes it.
local theta, items, zetan = 0.99, 10000000001.0, 26.46902820178302
local zeta2 = 1.0 + 0.5 ^ theta
local alpha = 1.0 / (1.0 - theta)
local half_pow_theta = 0.5 ^ theta
local eta = (1.0 - (2.0 / items) ^ (1.0 - theta)) / (1.0 - zeta2 / zetan)

local function zipfian_rank()
  local u = math.random()
  local uz = u * zetan
  if uz < 1.0 then return 0 end
  if uz < 1.0 + half_pow_theta then return 1 end
  return math.floor(items * (eta * u - eta + 1.0) ^ alpha)
end

local fnv_offset = 0xCBF29CE484222325ULL
local fnv_prime = 1099511628211ULL
local sign_bit = 0x8000000000000000ULL

-- FNV-1a over the 8 bytes of `rank`, then Java's Math.abs of the signed value (kvbench's
-- fnv_hash64). 64-bit unsigned cdata arithmetic wraps like C's.
function fnv_hash64(rank)
  local value = ffi.new("uint64_t", rank)
  local hash = fnv_offset
  for _ = 1, 8 do
    hash = bit.bxor(hash, bit.band(value, 0xff))
    value = bit.rshift(value, 8)
    hash = hash * fnv_prime
  end
  if hash >= sign_bit then hash = 0ULL - hash end
  return hash
end

local key_count, next_index
local read_fraction
local get_headers, put_headers
local value = string.rep("v", 100)

function init(args)
  local workload = args[1] or "a"
  key_count = tonumber(args[2] or "100000")
  local distribution = args[3] or "uniform"
  local token_file = args[4]
  local seed = tonumber(args[5] or "1")
  local fractions = { a = 0.5, b = 0.95, c = 1.0, w = 0.0 }
  read_fraction = fractions[workload]
  assert(read_fraction, "bench-wrk.lua: WORKLOAD must be a, b, c or w, not " .. tostring(workload))
  assert(key_count and key_count >= 1, "bench-wrk.lua: KEYS must be a positive number")
  assert(token_file, "bench-wrk.lua: TOKEN_FILE is missing")
  local f = assert(io.open(token_file, "r"))
  local token = f:read("*l")
  f:close()
  assert(token and #token > 0, "bench-wrk.lua: " .. token_file .. " holds no token")
  math.randomseed(seed * 1000 + (thread_index or 0))
  if distribution == "uniform" then
    next_index = function() return math.random(0, key_count - 1) end
  elseif distribution == "zipfian" then
    next_index = function() return tonumber(fnv_hash64(zipfian_rank()) % key_count) end
  else
    error("bench-wrk.lua: DISTRIBUTION must be uniform or zipfian, not " .. distribution)
  end
  -- wrk.format fills Host and Content-Length into the table it is given: one table per method.
  get_headers = { ["Authorization"] = "Bearer " .. token }
  put_headers = { ["Authorization"] = "Bearer " .. token,
                  ["Content-Type"] = "application/octet-stream" }
end

function request()
  local path = string.format("/v1/kv/user%010d", next_index())
  if read_fraction >= 1.0 or (read_fraction > 0.0 and math.random() < read_fraction) then
    return wrk.format("GET", path, get_headers, nil)
  end
  return wrk.format("PUT", path, put_headers, value)
end

function done(summary, latency, requests)
  local path = os.getenv("ACTORKV_WRK_HISTOGRAM")
  if not path or path == "" then return end
  local f = assert(io.open(path, "w"))
  local e = summary.errors
  f:write(string.format("summary %d %d %d %d %d %d %d %d\n", summary.duration, summary.requests,
                        summary.bytes, e.connect, e.read, e.write, e.status, e.timeout))
  for i = 1, #latency do
    local us, count = latency(i)
    f:write(string.format("%d %d\n", us, count))
  end
  f:close()
end
