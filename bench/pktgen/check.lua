-- SPDX-License-Identifier: BSD-3-Clause
--
-- Dry run of the pktgen scripts without pktgen (which this machine cannot
-- install): a stand-in "pktgen" table checks every call against the Lua API
-- of pktgen 23.03 (names, argument counts and values), pretends to send at
-- 10 Mpps, then each scenario script runs; and the .pkt command files are
-- checked line by line against pktgen's command syntax. It proves the scripts
-- are well formed and configure what they claim, not that pktgen accepts them.
--
--   lua5.4 bench/pktgen/check.lua bench/pktgen      (meson test bench_pktgen_scripts)

local dir = arg[1] or "."
SLUICE_LOG = false -- sluice.lua: no report file
local failures = 0

local function fail(fmt, ...)
	failures = failures + 1
	io.stderr:write("check: " .. string.format(fmt, ...) .. "\n")
end

local SMMI = {start = true, min = true, max = true, inc = true}

local function is_port(p)
	return type(p) == "string" and (p == "all" or p:match("^[%d,%-]+$") ~= nil)
end

local function is_ip(s)
	local a, b, c, d = tostring(s):match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
	return a ~= nil and tonumber(a) < 256 and tonumber(b) < 256 and tonumber(c) < 256 and
		tonumber(d) < 256
end

local function is_mac(s)
	return tostring(s):match("^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$") ~= nil
end

-- ---- the stand-in pktgen -------------------------------------------------

local state -- per scenario run

local function reset()
	state = {range = {}, sending = false, tx = 0, rx = 0, ranged = false, set = {}}
end

local function expect(name, n, ...)
	local args = table.pack(...)
	if args.n ~= n then
		fail("pktgen.%s: %d arguments, expected %d", name, args.n, n)
		return false
	end
	if not is_port(args[1]) then
		fail("pktgen.%s: portlist %s is not a string like \"0\" or \"all\"", name,
		     tostring(args[1]))
		return false
	end
	return true
end

local function range_fn(field, check)
	return function(...)
		local p, what, v = ...
		if not expect("range." .. field, 3, ...) then
			return
		end
		if not SMMI[what] then
			fail("pktgen.range.%s: \"%s\" is not start|min|max|inc", field, tostring(what))
		end
		if not check(v, what) then
			fail("pktgen.range.%s %s: bad value %s", field, what, tostring(v))
		end
		state.range[field] = state.range[field] or {}
		state.range[field][what] = v
	end
end

local function is_num16(v)
	return math.type(v) == "integer" and v >= 0 and v <= 65535
end

pktgen = {
	set = function(...)
		local p, what, v = ...
		if expect("set", 3, ...) then
			local ok = ({count = true, size = true, rate = true, burst = true, sport = true,
				     dport = true, ttl = true, prime = true})[what]
			if not ok then
				fail("pktgen.set: unknown \"%s\"", tostring(what))
			end
			if what == "size" and (v < 64 or v > 1518) then
				fail("pktgen.set size %s", tostring(v))
			end
			state.set[what] = v
		end
	end,
	set_mac = function(...)
		local p, which, mac = ...
		if expect("set_mac", 3, ...) and ((which ~= "dst" and which ~= "src") or
						   not is_mac(mac)) then
			fail("pktgen.set_mac %s %s", tostring(which), tostring(mac))
		end
	end,
	set_ipaddr = function(...)
		local p, which, ip = ...
		if expect("set_ipaddr", 3, ...) then
			local addr, plen = tostring(ip):match("^([%d%.]+)/?(%d*)$")
			if (which ~= "dst" and which ~= "src") or not is_ip(addr) or
			    (which == "src" and plen == "") then
				fail("pktgen.set_ipaddr %s %s (src needs a /prefix)", tostring(which),
				     tostring(ip))
			end
		end
	end,
	set_proto = function(...)
		local p, proto = ...
		if expect("set_proto", 2, ...) and proto ~= "tcp" and proto ~= "udp" then
			fail("pktgen.set_proto %s", tostring(proto))
		end
	end,
	set_range = function(...)
		local p, on = ...
		if expect("set_range", 2, ...) then
			if on ~= "on" and on ~= "off" and on ~= "enable" and on ~= "disable" then
				fail("pktgen.set_range %s", tostring(on))
			end
			state.ranged = on == "on" or on == "enable"
		end
	end,
	start = function(...)
		if expect("start", 1, ...) then
			if not state.ranged then
				fail("pktgen.start before range mode is on")
			end
			state.sending = true
		end
	end,
	stop = function(...)
		if expect("stop", 1, ...) then
			state.sending = false
		end
	end,
	clr = function()
		state.tx, state.rx = 0, 0
	end,
	delay = function(ms)
		if math.type(ms) ~= "integer" or ms < 0 then
			fail("pktgen.delay(%s): milliseconds as an integer", tostring(ms))
			return
		end
		if state.sending then
			state.tx = state.tx + 10000 * ms -- 10 Mpps
			state.rx = state.rx + 9000 * ms
		end
	end,
	portStats = function(...)
		local p, kind = ...
		if not expect("portStats", 2, ...) or (kind ~= "port" and kind ~= "rate") then
			fail("pktgen.portStats kind %s", tostring(kind))
		end
		local t = {n = 1}
		t[tonumber(p)] = {opackets = state.tx, ipackets = state.rx, imissed = 0, ierrors = 0,
				  oerrors = 0}
		return t
	end,
	range = {
		dst_mac = range_fn("dst_mac", is_mac),
		src_mac = range_fn("src_mac", is_mac),
		dst_ip = range_fn("dst_ip", is_ip),
		src_ip = range_fn("src_ip", is_ip),
		dst_port = range_fn("dst_port", is_num16),
		src_port = range_fn("src_port", is_num16),
		pkt_size = range_fn("pkt_size", function(v, what)
			return math.type(v) == "integer" and
				       ((v >= 64 and v <= 1518) or (what == "inc" and v < 1518))
		end),
		ip_proto = function(...)
			local p, proto = ...
			if expect("range.ip_proto", 2, ...) and proto ~= "tcp" and proto ~= "udp" then
				fail("pktgen.range.ip_proto %s", tostring(proto))
			end
		end,
	},
}

-- ---- the Lua scenarios ---------------------------------------------------

local function ip_num(s)
	local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
	return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
end

local expected_flows = {
	["dsr-est-1m.lua"] = {1047552},
	["fnat-est-500k.lua"] = {510500},
	["new-flows.lua"] = {65536 * 64511},
	["flows-sweep.lua"] = {1, 100, 9999, 100172, 1047552},
}

-- Captures what sluice.run prints.
local printed
local real_print = print
print = function(s)
	printed[#printed + 1] = s
end

for script, flows in pairs(expected_flows) do
	reset()
	printed = {}
	local ok, err = pcall(dofile, dir .. "/" .. script)
	if not ok then
		fail("%s: %s", script, tostring(err))
	elseif #printed ~= #flows then
		fail("%s: %d report lines, expected %d", script, #printed, #flows)
	else
		for i, n in ipairs(flows) do
			local got = tonumber(printed[i]:match("flows=(%d+)"))
			if got ~= n then
				fail("%s: line %d reports %s flows, expected %d", script, i, tostring(got), n)
			end
			if not printed[i]:match("returned_mpps=9%.000") then
				fail("%s: line %d: %s", script, i, printed[i])
			end
		end
		-- The last range set-up: address and port spans as the flow count says.
		local r = state.range
		local n_ip = ip_num(r.src_ip.max) - ip_num(r.src_ip.min) + 1
		local n_port = r.src_port.max - r.src_port.min + 1
		if r.src_ip.inc ~= "0.0.0.1" or r.src_port.inc ~= 1 or r.dst_ip.inc ~= "0.0.0.0" then
			fail("%s: increments", script)
		end
		local function gcd(a, b)
			while b ~= 0 do
				a, b = b, a % b
			end
			return a
		end
		if n_ip * n_port // gcd(n_ip, n_port) ~= flows[#flows] then
			fail("%s: range gives %d x %d, not %d flows", script, n_ip, n_port, flows[#flows])
		end
	end
end
print = real_print

-- ---- the command files ---------------------------------------------------

-- pktgen 23.03's command syntax for what the files use (cli-functions.c maps).
local P = "[%d,%-]+"
local patterns = {
	"^stop " .. P .. "$",
	"^start " .. P .. "$",
	"^set " .. P .. " size %d+$",
	"^set " .. P .. " rate %d+$",
	"^set " .. P .. " count %d+$",
	"^set " .. P .. " proto [tu][cd]p$",
	"^set " .. P .. " dst mac %x%x:%x%x:%x%x:%x%x:%x%x:%x%x$",
	"^set " .. P .. " dst ip [%d%.]+$",
	"^set " .. P .. " src ip [%d%.]+/%d+$",
	"^range " .. P .. " [sd][rs][ct] mac %a+ %x%x:%x%x:%x%x:%x%x:%x%x:%x%x$",
	"^range " .. P .. " [sd][rs][ct] ip %a+ [%d%.]+$",
	"^range " .. P .. " [sd][rs][ct] port %a+ %d+$",
	"^range " .. P .. " size %a+ %d+$",
	"^range " .. P .. " proto [tu][cd]p$",
	"^enable " .. P .. " range$",
}
local smmi_words = {start = true, min = true, max = true, inc = true}

for _, name in ipairs({"dsr-est-1m.pkt", "fnat-est-500k.pkt", "new-flows.pkt"}) do
	local f = io.open(dir .. "/" .. name)
	if f == nil then
		fail("%s: cannot open", name)
	else
		local n = 0
		for line in f:lines() do
			n = n + 1
			if line ~= "" and not line:match("^#") then
				local ok = false
				for _, p in ipairs(patterns) do
					ok = ok or line:match(p) ~= nil
				end
				local w = line:match("^range %S+ %S+ %S+ (%a+) ") or
					  line:match("^range %S+ size (%a+) ")
				if w ~= nil and not smmi_words[w] then
					ok = false
				end
				if not ok then
					fail("%s:%d: not a pktgen command this file should use: %s", name, n, line)
				end
			end
		end
		f:close()
	end
end

if failures > 0 then
	io.stderr:write(string.format("check: %d problem(s)\n", failures))
	os.exit(1)
end
print("check: pktgen scripts and command files OK (dry run against a stand-in API)")
