-- SPDX-License-Identifier: BSD-3-Clause
--
-- Shared part of Sluice's pktgen scripts (bench/README.md, "pktgen"), for
-- pktgen 23.03 built with Lua. A scenario (scenarios.txt) is a pcap file
-- that make_pcap.py wrote with every flow of the scenario once; run.sh starts
-- pktgen with that file on port 0 (-s 0:FILE) and scenario.lua, which calls
-- sluice.run(). pktgen sends the pcap's packets in turn, so each flow comes
-- back once per pass over the file.
--
-- Why not range mode: pktgen 23.03 writes range packets into the TX queue's
-- mbufs once, when the port starts, and then sends those same mbufs again:
-- a range run sends at most as many distinct flows as that mempool holds
-- (24,576), whatever the range says.

local sluice = {}

local here = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")

-- The scenario <name> from scenarios.txt: proto, vip, port, clients, ports, flows.
function sluice.scenario(name)
	local f = assert(io.open(here .. "scenarios.txt"))
	for line in f:lines() do
		local n, proto, vip, port, clients, ports = line:match(
			"^(%S+)%s+(%a+)%s+([%d%.]+)%s+(%d+)%s+(%d+)%s+(%d+)")
		if n == name then
			f:close()
			return {name = n, proto = proto, vip = vip, port = tonumber(port),
				clients = tonumber(clients), ports = tonumber(ports),
				flows = tonumber(clients) * tonumber(ports)}
		end
	end
	f:close()
	error("no scenario named " .. tostring(name) .. " in scenarios.txt")
end

local function counters(s)
	local tx = pktgen.portStats(tostring(s.tx), "port")[s.tx]
	local rx = pktgen.portStats(tostring(s.rx), "port")[s.rx]
	return tx.opackets, rx.ipackets, rx.imissed or 0
end

-- Totals once they stop moving. pktgen's port statistics are a copy its
-- timer refreshes once a second, so two reads less than a second apart can
-- agree and both be stale: compare reads 1.1 s apart. At most 11 s.
local function settled(s)
	local tx, rx = counters(s)
	for _ = 1, 10 do
		pktgen.delay(1100)
		local tx2, rx2 = counters(s)
		if tx2 == tx and rx2 == rx then
			break
		end
		tx, rx = tx2, rx2
	end
	return tx, rx
end

-- Sends the pcap on port s.tx for s.warmup_s (every flow seen at least
-- once when the rate allows) + s.seconds, measures over s.seconds, stops,
-- and prints one line: offered and returned rates, loss, totals.
function sluice.run(s)
	local p = tostring(s.tx)

	pktgen.stop(p)
	pktgen.set(p, "rate", s.rate)
	pktgen.set(p, "count", 0) -- until stopped
	pktgen.pcap(p, "on")
	-- Totals are differences from here: pktgen.clr() resets the counters
	-- later, from pktgen's timer thread, after the first packets are out.
	local txb, rxb = settled(s)
	pktgen.start(p)
	pktgen.delay(math.floor(s.warmup_s * 1000))
	local tx0, rx0, miss0 = counters(s)
	pktgen.delay(math.floor(s.seconds * 1000))
	local tx1, rx1, miss1 = counters(s)
	pktgen.stop(p)
	local txt, rxt = settled(s)

	local offered = (tx1 - tx0) / s.seconds / 1e6
	local returned = (rx1 - rx0) / s.seconds / 1e6
	local loss = 0
	if tx1 > tx0 then
		loss = 1 - (rx1 - rx0) / (tx1 - tx0)
	end
	local line = string.format(
		"sluice-bench %s flows=%d size=64 offered_mpps=%.3f returned_mpps=%.3f " ..
		"loss=%.4f rx_imissed=%d total_tx=%d total_rx=%d",
		s.name, s.flows, offered, returned, loss, miss1 - miss0, txt - txb, rxt - rxb)
	print(line)
	local log = os.getenv("SLUICE_PKTGEN_LOG")
	if log ~= nil and log ~= "" then
		local f = io.open(log, "a")
		if f ~= nil then
			f:write(line .. "\n")
			f:close()
		end
	end
	return offered, returned, loss
end

-- The scenario named by SLUICE_SCENARIO with the defaults: port 0 sends,
-- SLUICE_RX_PORT (default 0: one port looped through Sluice, as on memif)
-- counts what comes back; 100% rate; SLUICE_WARMUP_S (2) + SLUICE_SECONDS (10).
function sluice.from_env()
	local s = sluice.scenario(os.getenv("SLUICE_SCENARIO") or "dsr-est-1m")
	s.tx = tonumber(os.getenv("SLUICE_TX_PORT") or "0")
	s.rx = tonumber(os.getenv("SLUICE_RX_PORT") or "0")
	s.rate = 100
	s.warmup_s = tonumber(os.getenv("SLUICE_WARMUP_S") or "2")
	s.seconds = tonumber(os.getenv("SLUICE_SECONDS") or "10")
	return s
end

return sluice
