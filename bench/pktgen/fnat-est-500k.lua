-- SPDX-License-Identifier: BSD-3-Clause
-- Sluice, full-NAT VIP 198.18.1.101:80/tcp, 510,500 established flows
-- (500 client addresses x 1021 source ports). One Sluice lcore has 8 local
-- addresses x 64512 source ports = 516,096 translations, so more flows per
-- lcore cannot be established (give more lcores, or more local addresses).
-- Only the client -> backend direction is measured (the backends are pktgen's
-- receiving port, which does not answer).
-- Written for pktgen 23.03; not run where it was written.
package.path = package.path .. ";" ..
	(debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua"
local sluice = require("sluice")

local s = sluice.defaults()
s.name = "fnat-est-500k"
s.vip = "198.18.1.101"
s.n_src_ip, s.n_sport = 500, 1021
sluice.run(s)
