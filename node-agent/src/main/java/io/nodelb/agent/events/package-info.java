/**
 * Flow events (issue 12): the records the data plane writes to the nlb_events ring buffer and
 * the FLOW_END records of idle flows the agent's conntrack sweep finds, read on one thread,
 * named from the applied state and handed to the access log and the per-backend metrics.
 * See docs/access-log.md and docs/metrics.md.
 */
package io.nodelb.agent.events;
