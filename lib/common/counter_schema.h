/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data plane's counters, listed once. The counter structs (lib/lb/lb.h),
 * their sums over the lcores, the API's JSON, `sluicectl show stats`, the
 * control daemon's reads and /metrics are all made from these lists: a new
 * counter is one line here (and the line of code that counts it).
 *
 * X(field, metric, help):
 *   field  the struct member and the API's JSON key
 *   metric the Prometheus name between "sluice_" and "_total" (counters
 *          follow Prometheus' naming: a unit, a _total suffix)
 *   help   the HELP text, one line, also the field's documentation
 *
 * No dependency: the control daemon and sluicectl include it too.
 */
#ifndef SLUICE_COUNTER_SCHEMA_H
#define SLUICE_COUNTER_SCHEMA_H

/*
 * Per lcore, written only by their lcore. Invariant (per lcore and summed):
 *   rx = fwd + replied + to_mgmt + handoff + to_kernel + sum(drops except tx_full)
 * where rx also counts packets handed over by another lcore, and tx_full
 * counts packets already in fwd or replied that the port then refused. The drops by
 * reason (enum lb_drop) follow these in the struct, in the JSON ("drops")
 * and in /metrics (sluice_dropped_packets_total{reason=...}).
 */
#define COUNTER_LCORE_LIST(X)                                                                      \
	X(rx, "received_packets",                                                                  \
	  "Packets received, including those handed over by another lcore.")                       \
	X(fwd, "forwarded_packets", "Packets sent towards a backend.")                             \
	X(replied, "replied_packets", "ARP, ND and ICMP echo requests answered in place.")         \
	X(to_mgmt, "to_mgmt_packets", "ARP and ND replies handed to the management thread.")       \
	X(handoff, "handoff_packets",                                                              \
	  "Packets passed to the lcore that owns their flow (fnat/nat).")                          \
	X(to_kernel, "to_kernel_packets",                                                          \
	  "Packets not ours, given to the kernel (exception path).")                               \
	X(from_kernel, "from_kernel_packets",                                                      \
	  "Packets sent out for the kernel (exception path; not in rx).")                          \
	X(nat_replies, "nat_reply_packets", "fnat/nat replies translated back to clients.")        \
	X(too_big_sent, "too_big_sent_packets",                                                    \
	  "tunnel: ICMP fragmentation-needed or packet-too-big messages sent.")                    \
	X(icmp_translated, "icmp_translated_packets",                                              \
	  "ICMP errors about a flow sent on to its other side.")                                   \
	X(redispatched, "redispatched_connections",                                                \
	  "Connections sent to another backend after a connect failure.")                          \
	X(refused, "refused_connections",                                                          \
	  "No backend: TCP RST or ICMP port unreachable sent (when_empty: reset).")                \
	X(tx_ctrl, "tx_ctrl_packets", "Packets sent for the management thread.")                   \
	X(flows_new, "new_flows", "Flows created.")                                                \
	X(flows_rescheduled, "rescheduled_flows",                                                  \
	  "Flows whose backend left service, moved to another backend.")                           \
	X(flows_reset, "reset_flows",                                                              \
	  "Flows whose backend left service or drain deadline passed, reset.")                     \
	X(flows_backstop, "backstop_flows",                                                        \
	  "Flow table full: packets whose backend Maglev picked, not stored.")

/*
 * Per VIP and per backend (fnat/nat replies feed established, connect_fail,
 * responded and response_timeouts: the circuit breaker's input).
 */
#define COUNTER_TRAFFIC_LIST(X)                                                                    \
	X(pkts, "packets", "Packets from clients.")                                                \
	X(bytes, "bytes", "Bytes from clients (frames as received).")                              \
	X(new_flows, "new_flows", "Flows created.")                                                \
	X(established, "established_connections",                                                  \
	  "New connections the backend answered (fnat/nat).")                                      \
	X(connect_fail, "connect_failures",                                                        \
	  "SYNs answered by RST or ICMP unreachable, or unanswered (fnat/nat).")                   \
	X(redispatched, "redispatched_connections",                                                \
	  "Connections sent to another backend after this one failed to connect.")                 \
	X(response_timeouts, "response_timeouts",                                                  \
	  "Client data the backend did not answer within response_timeout (fnat/nat).")            \
	X(responded, "responses",                                                                  \
	  "Client data the backend answered within response_timeout (fnat/nat).")                  \
	X(flows_reset, "reset_flows",                                                              \
	  "Flows reset because the backend went down (down_flows: reset).")                        \
	X(drain_reset, "drain_reset_flows",                                                        \
	  "Flows reset because the backend's drain deadline passed.")

/* Ids (list positions) of the lcore counters, for arrays of sums. */
enum counter_lcore_id {
#define COUNTER_X_ID(field, metric, help) COUNTER_LCORE_ID_##field,
	COUNTER_LCORE_LIST(COUNTER_X_ID)
#undef COUNTER_X_ID
		COUNTER_LCORE_MAX
};

/* Ids of the traffic counters: COUNTER_KEY() below checks a name against them. */
enum counter_traffic_id {
#define COUNTER_X_ID(field, metric, help) COUNTER_TRAFFIC_ID_##field,
	COUNTER_TRAFFIC_LIST(COUNTER_X_ID)
#undef COUNTER_X_ID
		COUNTER_TRAFFIC_MAX
};

/*
 * The JSON key of traffic counter <field>, as a string; a compile error if
 * the schema has no such counter (so a reader cannot drift from the writer).
 */
#define COUNTER_KEY(field) ((void)COUNTER_TRAFFIC_ID_##field, #field)

#endif
