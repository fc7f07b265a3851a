-- SPDX-License-Identifier: BSD-3-Clause
-- Sluice, every packet a new flow: UDP to the DSR VIP 198.18.1.100:53,
-- 65536 client addresses x 64511 source ports (coprime: 4.2e9 tuples before
-- one repeats). UDP because pktgen's range mode sends TCP with fixed flags
-- (ACK): a flow Sluice picks up mid-stream counts as established and is never
-- evicted, so TCP would measure a full table's backstop, not new flows. A
-- first UDP packet opens a "udp_new" flow, which, like a SYN, may be evicted.
-- Written for pktgen 23.03; not run where it was written.
package.path = package.path .. ";" ..
	(debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua"
local sluice = require("sluice")

local s = sluice.defaults()
s.name = "dsr-new-udp"
s.proto = "udp"
s.vport = 53
s.n_src_ip, s.n_sport = 65536, 64511
s.warmup_s = 1
sluice.run(s)
