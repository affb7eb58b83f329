-- score_prompt.lua: POST /v1/score with prompt text (file in
-- $KVIDX_WRK_PROMPT, model $KVIDX_WRK_MODEL). Every request starts with a
-- different number, so the prefix store never covers the prompt: each request
-- is tokenized in full.
local f = assert(io.open(os.getenv("KVIDX_WRK_PROMPT"), "rb"))
local text = f:read("*a")
f:close()
local model = os.getenv("KVIDX_WRK_MODEL")

local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

local head = '{"model":' .. json_string(model) .. ',"prompt":"'
local tail = json_string(text):sub(2) .. '}'
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function request()
  counter = counter + 1
  local prefix = string.format("Request %d-%d. ", id, counter)
  return wrk.format("POST", "/v1/score",
                    {["Content-Type"] = "application/json"},
                    head .. prefix .. tail)
end

function done(summary, latency, requests)
  io.write(string.format("non200 %d\n", summary.errors.status))
end
