-- SPDX-License-Identifier: BSD-3-Clause
-- One Sluice scenario with pktgen 23.03: the one SLUICE_SCENARIO names
-- (scenarios.txt), whose pcap run.sh gave pktgen with -s 0:FILE. Prints one
-- "sluice-bench ..." line and quits pktgen unless SLUICE_PKTGEN_STAY=1.
package.path = package.path .. ";" ..
	(debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua"
local sluice = require("sluice")

sluice.run(sluice.from_env())
if os.getenv("SLUICE_PKTGEN_STAY") ~= "1" then
	pktgen.quit()
end
