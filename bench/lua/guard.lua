-- The OpenResty-style peer: what a team would write by hand with
-- lua-nginx-module. Decode the chat request with cjson and refuse it when a
-- message matches one regular expression (the same one the Portkey
-- guardrail row uses).

local cjson = require "cjson.safe"

local _M = {}

local PATTERN = [[ignore (all )?previous instructions|sk-[A-Za-z0-9]{20,}|project neptune]]

local function refuse(status, message)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.say(cjson.encode({ error = { message = message, type = "policy_violation" } }))
    return ngx.exit(status)
end

local function matches(text)
    local from, _, err = ngx.re.find(text, PATTERN, "jo")
    if err then
        ngx.log(ngx.ERR, "guard regex: ", err)
    end
    return from ~= nil
end

function _M.check()
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if not body then
        -- The body went to a temporary file (larger than client_body_buffer_size).
        local path = ngx.req.get_body_file()
        local f = path and io.open(path, "rb")
        if f then
            body = f:read("*a")
            f:close()
        end
    end
    if not body then
        return refuse(400, "request body is empty")
    end

    local req = cjson.decode(body)
    if type(req) ~= "table" or type(req.messages) ~= "table" then
        return refuse(400, "body is not a chat request")
    end

    for _, m in ipairs(req.messages) do
        local content = type(m) == "table" and m.content
        if type(content) == "string" then
            if matches(content) then
                return refuse(403, "prompt refused by guard")
            end
        elseif type(content) == "table" then
            for _, part in ipairs(content) do
                if type(part) == "table" and type(part.text) == "string" and matches(part.text) then
                    return refuse(403, "prompt refused by guard")
                end
            end
        end
    end
end

return _M
