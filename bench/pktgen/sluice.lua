-- SPDX-License-Identifier: BSD-3-Clause
--
-- Shared helpers of Sluice's pktgen scripts (bench/pktgen/README section of
-- bench/README.md). Written for pktgen 23.03 from its Lua API (pktgen.set,
-- pktgen.set_mac, pktgen.set_ipaddr, pktgen.set_proto, pktgen.range.*,
-- pktgen.set_range, pktgen.start/stop, pktgen.portStats, pktgen.clr,
-- pktgen.delay). NOT RUN on the machine where Sluice's suite was written:
-- pktgen is not installable there (see README).
--
-- A scenario script sets the table SCENARIO and calls sluice.run(SCENARIO):
--   name        text in the report line
--   tx, rx      pktgen ports: frames leave tx, what Sluice (or testpmd, the
--               ceiling) sends back is counted on rx (the same port on a
--               one-port loop); environment SLUICE_TX_PORT / SLUICE_RX_PORT
--   dst_mac     MAC of Sluice's port facing the generator
--   vip, vport  destination (the VIP); proto "tcp" or "udp"
--   size        frame size with FCS (64)
--   src_first   first client address (198.19.0.0)
--   n_src_ip    client addresses, counted from src_first
--   sport_first, n_sport
--               client source ports, sport_first .. sport_first + n_sport - 1
--   rate        percent of line rate (100)
--   warmup_s, seconds
--               warm-up (every flow seen once), then the measured time
--
-- Range mode steps every field by its increment on each packet and wraps it
-- at its maximum, all fields at once; so the number of distinct flows is
-- lcm(n_src_ip, n_sport). The scenarios pick coprime counts so that it is
-- their product.

local sluice = {}

local function ip_add(ip, n)
	local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
	local v = ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d) + n
	return string.format("%d.%d.%d.%d", (v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255)
end

local function gcd(a, b)
	while b ~= 0 do
		a, b = b, a % b
	end
	return a
end

function sluice.flows(s)
	return s.n_src_ip * s.n_sport // gcd(s.n_src_ip, s.n_sport)
end

-- Range-mode configuration of port s.tx: the VIP as destination, s.n_src_ip
-- client addresses times s.n_sport source ports.
function sluice.setup(s)
	local p = tostring(s.tx)

	pktgen.stop(p)
	pktgen.set(p, "size", s.size)
	pktgen.set(p, "rate", s.rate)
	pktgen.set(p, "count", 0) -- forever, until stopped
	pktgen.set_proto(p, s.proto)
	pktgen.set_mac(p, "dst", s.dst_mac)
	pktgen.set_ipaddr(p, "dst", s.vip)
	pktgen.set_ipaddr(p, "src", s.src_first .. "/16")

	pktgen.range.dst_mac(p, "start", s.dst_mac)
	pktgen.range.dst_mac(p, "min", s.dst_mac)
	pktgen.range.dst_mac(p, "max", s.dst_mac)
	pktgen.range.dst_mac(p, "inc", "00:00:00:00:00:00")

	pktgen.range.dst_ip(p, "start", s.vip)
	pktgen.range.dst_ip(p, "min", s.vip)
	pktgen.range.dst_ip(p, "max", s.vip)
	pktgen.range.dst_ip(p, "inc", "0.0.0.0")

	pktgen.range.src_ip(p, "start", s.src_first)
	pktgen.range.src_ip(p, "min", s.src_first)
	pktgen.range.src_ip(p, "max", ip_add(s.src_first, s.n_src_ip - 1))
	pktgen.range.src_ip(p, "inc", "0.0.0.1")

	pktgen.range.dst_port(p, "start", s.vport)
	pktgen.range.dst_port(p, "min", s.vport)
	pktgen.range.dst_port(p, "max", s.vport)
	pktgen.range.dst_port(p, "inc", 0)

	pktgen.range.src_port(p, "start", s.sport_first)
	pktgen.range.src_port(p, "min", s.sport_first)
	pktgen.range.src_port(p, "max", s.sport_first + s.n_sport - 1)
	pktgen.range.src_port(p, "inc", 1)

	pktgen.range.ip_proto(p, s.proto)
	pktgen.range.pkt_size(p, "start", s.size)
	pktgen.range.pkt_size(p, "min", s.size)
	pktgen.range.pkt_size(p, "max", s.size)
	pktgen.range.pkt_size(p, "inc", 0)

	-- pktgen 23.03: set_range; some older releases named it range().
	if pktgen.set_range ~= nil then
		pktgen.set_range(p, "on")
	else
		pktgen.range(p, "on")
	end
end

local function counters(s)
	local tx = pktgen.portStats(tostring(s.tx), "port")[tonumber(s.tx)]
	local rx = pktgen.portStats(tostring(s.rx), "port")[tonumber(s.rx)]
	return tx.opackets, rx.ipackets, rx.imissed or 0
end

-- Sends for s.warmup_s + s.seconds, measures over s.seconds, stops, waits
-- for what is in flight, prints one line and returns the figures.
function sluice.run(s)
	sluice.setup(s)
	pktgen.clr()
	pktgen.start(tostring(s.tx))
	pktgen.delay(math.floor(s.warmup_s * 1000))
	local tx0, rx0, miss0 = counters(s)
	pktgen.delay(math.floor(s.seconds * 1000))
	local tx1, rx1, miss1 = counters(s)
	pktgen.stop(tostring(s.tx))
	pktgen.delay(500)
	local txt, rxt = counters(s)

	local offered = (tx1 - tx0) / s.seconds / 1e6
	local returned = (rx1 - rx0) / s.seconds / 1e6
	local loss = 0
	if tx1 > tx0 then
		loss = 1 - (rx1 - rx0) / (tx1 - tx0)
	end
	local line = string.format(
		"sluice-bench %s flows=%d size=%d offered_mpps=%.3f returned_mpps=%.3f " ..
		"loss=%.4f rx_imissed=%d total_tx=%d total_rx=%d",
		s.name, sluice.flows(s), s.size, offered, returned, loss, miss1 - miss0, txt, rxt)
	print(line)
	if s.log then
		local f = io.open(s.log, "a")
		if f ~= nil then
			f:write(line .. "\n")
			f:close()
		end
	end
	return offered, returned, loss
end

-- Defaults of the scenarios (override in the scenario script).
function sluice.defaults()
	return {
		-- Two-port set-up by default; on a one-port loop (memif, or one
		-- cable) run pktgen with SLUICE_RX_PORT=0.
		tx = tonumber(os.getenv("SLUICE_TX_PORT") or "0"),
		rx = tonumber(os.getenv("SLUICE_RX_PORT") or "1"),
		dst_mac = "02:00:00:00:00:02",
		vip = "198.18.1.100",
		vport = 80,
		proto = "tcp",
		size = 64,
		src_first = "198.19.0.0",
		n_src_ip = 1024,
		sport_first = 1024,
		n_sport = 1023,
		rate = 100,
		warmup_s = 2,
		seconds = 10,
		-- Report lines are appended here too (SLUICE_LOG = false: nowhere).
		log = (rawget(_G, "SLUICE_LOG") == nil) and "sluice-pktgen.log" or SLUICE_LOG,
	}
end

return sluice
