--[[
A string as JSON.stringify writes it: quoted, with `"` and `\` escaped, the control characters below
0x20 as \b \f \n \r \t or \u00xx, every other byte as it is (UTF-8 stays as it is).
]]
-- Built at its first use: most script calls write no JSON string.
local JSON_ESCAPES = nil
local function jsonEscape(char)
  JSON_ESCAPES = JSON_ESCAPES or { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
  return JSON_ESCAPES[char] or string.format('\\u%04x', string.byte(char))
end
local function jsonString(text)
  return '"' .. string.gsub(text, '[%z\1-\31"\\]', jsonEscape) .. '"'
end
