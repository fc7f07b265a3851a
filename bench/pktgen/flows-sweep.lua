-- SPDX-License-Identifier: BSD-3-Clause
-- Sluice, DSR VIP 198.18.1.100:80/tcp: the returned rate at 1, 100, ~10k,
-- ~100k and ~1M established flows, one line each (the same sweep as
-- bench/run.sh). Flows = lcm(addresses, ports): the counts are coprime.
-- Written for pktgen 23.03; not run where it was written.
package.path = package.path .. ";" ..
	(debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua"
local sluice = require("sluice")

local sweep = {
	{1, 1},       -- 1
	{100, 1},     -- 100
	{101, 99},    -- 9,999
	{317, 316},   -- 100,172
	{1024, 1023}, -- 1,047,552
}
for _, c in ipairs(sweep) do
	local s = sluice.defaults()
	s.n_src_ip, s.n_sport = c[1], c[2]
	s.name = string.format("dsr-est-%d", sluice.flows(s))
	s.seconds = 5
	sluice.run(s)
	pktgen.delay(1000)
end
