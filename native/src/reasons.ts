// Mirror of bpf/include/reasons.h (test/reasons.test.ts checks they agree). Numbers are stable:
// they index the weft_stats counters and appear on dashboards.
export const REASONS = {
  NONE: 0,
  CONNECT_REDIRECTED: 1,
  CONNECT_SKIP_NOT_TCP: 2,
  CONNECT_SKIP_LOOPBACK: 3,
  CONNECT_SKIP_POD_SELF: 4,
  CONNECT_SKIP_EXCLUDED: 5,
  CONNECT_DENY_RECORD_FAILED: 6,
  SOCKOPS_REKEYED: 7,
  SOCKOPS_REKEY_FAILED: 8,
  GETPEERNAME_RESTORED: 9,
  SKLOOKUP_PASS_NOT_TCP: 10,
  SKLOOKUP_PASS_LOOPBACK: 11,
  SKLOOKUP_PASS_POD_SELF: 12,
  SKLOOKUP_PASS_PROBE: 13,
  SKLOOKUP_HBONE: 14,
  SKLOOKUP_PLAINTEXT: 15,
  SKLOOKUP_DROP_NO_LISTENER: 16,
  SKLOOKUP_DROP_ASSIGN_FAILED: 17,
  DNS_REDIRECTED: 18,
  DNS_RESTORED: 19,
  DNS_DENY_RECORD_FAILED: 20,
  BIND_DENIED: 21,
} as const;

export type Reason = keyof typeof REASONS;

/** Number of slots in weft_stats (WEFT_R_MAX). */
export const REASON_SLOTS = 64;
