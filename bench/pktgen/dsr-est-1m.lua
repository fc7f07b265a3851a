-- SPDX-License-Identifier: BSD-3-Clause
-- Sluice, DSR VIP 198.18.1.100:80/tcp, 1,047,552 established flows
-- (1024 client addresses x 1023 source ports, TCP ACKs: Sluice picks them up
-- mid-stream), 64-byte frames at line rate. Run the same script with
-- dpdk-testpmd --forward-mode=io in Sluice's place for the ceiling.
--   pktgen ... -- -P -m "[1:2].0,[3:4].1" -f dsr-est-1m.lua    (bench/README.md)
-- Written for pktgen 23.03; not run where it was written.
package.path = package.path .. ";" ..
	(debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua"
local sluice = require("sluice")

local s = sluice.defaults()
s.name = "dsr-est-1m"
s.n_src_ip, s.n_sport = 1024, 1023
sluice.run(s)
