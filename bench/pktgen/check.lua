-- SPDX-License-Identifier: BSD-3-Clause
--
-- Dry run of the pktgen kit without pktgen: every scenario of scenarios.txt
-- runs scenario.lua against a stand-in "pktgen" table that behaves as
-- pktgen 23.03 does where it matters to the figures (run.sh's runs against a
-- real pktgen are quoted in bench/README.md):
--   - range mode builds its packets into the TX queue's mbufs once, at
--     start, and sends those again: at most 24,576 distinct flows;
--   - pcap mode sends the packets of the file given with -s in turn: the
--     file's flows (make_pcap.py --list says how many it writes);
--   - port statistics are a copy refreshed once a second;
--   - the API calls exist with these arguments (names, counts, values).
-- It checks that each report line names the flows the stand-in sent and
-- totals equal to what it sent, and that interactive.pkt uses commands of
-- pktgen's syntax.
--
--   lua5.4 bench/pktgen/check.lua bench/pktgen      (meson test bench_pktgen_scripts)

local dir = arg[1] or "."
local failures = 0
local RANGE_MBUFS = 24576 -- pktgen 23.03: MAX_MBUFS_PER_PORT for one TX queue
local MPPS = 10           -- the stand-in's sending rate

local function fail(fmt, ...)
	failures = failures + 1
	io.stderr:write("check: " .. string.format(fmt, ...) .. "\n")
end

-- What make_pcap.py writes for each scenario: the flows of its pcap.
local pcap_flows = {}
do
	local p = io.popen("python3 " .. dir .. "/make_pcap.py --list")
	for line in p:lines() do
		local name, n = line:match("^(%S+)%s+(%d+) flows$")
		if name then
			pcap_flows[name] = tonumber(n)
		end
	end
	if not p:close() or next(pcap_flows) == nil then
		fail("make_pcap.py --list failed")
	end
end

-- ---- the stand-in pktgen -------------------------------------------------

local st -- one scenario run: clock (ms), what was sent, the stats copy

local function is_port(p)
	return type(p) == "string" and p:match("^[%d,%-]+$") ~= nil
end

local function expect(name, n, ...)
	local args = table.pack(...)
	if args.n ~= n then
		fail("pktgen.%s: %d arguments, expected %d", name, args.n, n)
		return false
	end
	if not is_port(args[1]) then
		fail("pktgen.%s: portlist %s is not a string like \"0\"", name, tostring(args[1]))
		return false
	end
	return true
end

local function advance(ms)
	for _ = 1, ms do
		st.now = st.now + 1
		if st.sending then
			st.sent = st.sent + MPPS * 1000
		end
		if st.now % 1000 == 0 then -- the timer's copy of the port statistics
			st.copy_tx, st.copy_rx = st.sent, st.sent
		end
	end
end

pktgen = {
	set = function(...)
		local _, what, v = ...
		if expect("set", 3, ...) then
			if what ~= "rate" and what ~= "count" and what ~= "size" and what ~= "burst" then
				fail("pktgen.set: unknown \"%s\"", tostring(what))
			elseif math.type(v) ~= "integer" or v < 0 then
				fail("pktgen.set %s: %s is not a count", what, tostring(v))
			end
		end
	end,
	pcap = function(...)
		local _, on = ...
		if expect("pcap", 2, ...) then
			if on ~= "on" and on ~= "off" and on ~= "enable" and on ~= "disable" then
				fail("pktgen.pcap %s", tostring(on))
			end
			st.mode = (on == "on" or on == "enable") and "pcap" or nil
		end
	end,
	set_range = function(...)
		local _, on = ...
		if expect("set_range", 2, ...) then
			st.mode = (on == "on" or on == "enable") and "range" or nil
		end
	end,
	start = function(...)
		if expect("start", 1, ...) then
			if st.mode == nil then
				fail("pktgen.start with neither pcap nor range mode on")
			end
			st.sending = true
		end
	end,
	stop = function(...)
		if expect("stop", 1, ...) then
			st.sending = false
		end
	end,
	clr = function()
		-- pktgen resets the counters from its timer thread, later: not modelled
		-- as a reset the script could rely on.
	end,
	delay = function(ms)
		if math.type(ms) ~= "integer" or ms < 0 then
			fail("pktgen.delay(%s): milliseconds as an integer", tostring(ms))
			return
		end
		advance(ms)
	end,
	portStats = function(...)
		local p, kind = ...
		if not expect("portStats", 2, ...) or kind ~= "port" then
			fail("pktgen.portStats kind %s", tostring(kind))
		end
		local t = {n = 1}
		t[tonumber(p)] = {opackets = st.copy_tx, ipackets = st.copy_rx, imissed = 0}
		return t
	end,
	quit = function()
		st.quit = true
	end,
}

-- ---- every scenario through scenario.lua ---------------------------------

local real_getenv, real_print = os.getenv, print
for name, flows in pairs(pcap_flows) do
	st = {now = 0, sent = 0, copy_tx = 0, copy_rx = 0, sending = false}
	local printed = {}
	os.getenv = function(k)
		if k == "SLUICE_SCENARIO" then
			return name
		end
		if k == "SLUICE_PKTGEN_LOG" then
			return nil
		end
		return real_getenv(k)
	end
	print = function(s)
		printed[#printed + 1] = s
	end
	local ok, err = pcall(dofile, dir .. "/scenario.lua")
	os.getenv, print = real_getenv, real_print
	local line = printed[1] or ""
	local sent_flows = st.mode == "range" and math.min(flows, RANGE_MBUFS) or flows
	if not ok then
		fail("%s: %s", name, tostring(err))
	elseif #printed ~= 1 then
		fail("%s: %d report lines, expected 1", name, #printed)
	elseif st.mode ~= "pcap" then
		fail("%s: not in pcap mode: pktgen would send %d distinct flows, not %d", name,
		     sent_flows, flows)
	elseif tonumber(line:match("flows=(%d+)")) ~= sent_flows then
		fail("%s: reports %s flows, pktgen sends %d: %s", name, line:match("flows=(%d+)"),
		     sent_flows, line)
	elseif tonumber(line:match("total_tx=(%d+)")) ~= st.sent or
	    tonumber(line:match("total_rx=(%d+)")) ~= st.sent then
		fail("%s: totals are not what was sent (%d; stale statistics?): %s", name, st.sent, line)
	elseif not line:match("returned_mpps=10%.000") then
		fail("%s: rates: %s", name, line)
	elseif not st.quit then
		fail("%s: pktgen is not told to quit", name)
	end
end

-- ---- the command file ----------------------------------------------------

local P = "[%d,%-]+"
local patterns = {
	"^stop " .. P .. "$",
	"^start " .. P .. "$",
	"^set " .. P .. " rate %d+$",
	"^set " .. P .. " count %d+$",
	"^enable " .. P .. " pcap$",
}
local f = io.open(dir .. "/interactive.pkt")
if f == nil then
	fail("interactive.pkt: cannot open")
else
	local n = 0
	for line in f:lines() do
		n = n + 1
		if line ~= "" and not line:match("^#") then
			local ok = false
			for _, p in ipairs(patterns) do
				ok = ok or line:match(p) ~= nil
			end
			if not ok then
				fail("interactive.pkt:%d: not a pktgen command it should use: %s", n, line)
			end
		end
	end
	f:close()
end

if failures > 0 then
	io.stderr:write(string.format("check: %d problem(s)\n", failures))
	os.exit(1)
end
print("check: pktgen kit OK (dry run: pcap mode, flows and totals as pktgen 23.03 sends them)")
