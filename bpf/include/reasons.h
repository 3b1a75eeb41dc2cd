/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reason codes: why a program passed, redirected or dropped something. Each is an index into the
 * per-CPU `weft_stats` counter array, and dashboards and the TypeScript table in
 * native/src/reasons.ts refer to them by number. NEVER renumber or reuse a value: append only.
 */
#ifndef WEFT_REASONS_H
#define WEFT_REASONS_H

#define WEFT_R_NONE 0

/* cgroup/connect4 + connect6 (connect.bpf.c) */
#define WEFT_R_CONNECT_REDIRECTED 1
#define WEFT_R_CONNECT_SKIP_NOT_TCP 2
#define WEFT_R_CONNECT_SKIP_LOOPBACK 3
#define WEFT_R_CONNECT_SKIP_POD_SELF 4
#define WEFT_R_CONNECT_SKIP_EXCLUDED 5
#define WEFT_R_CONNECT_DENY_RECORD_FAILED 6

/* sockops (sockops.bpf.c) */
#define WEFT_R_SOCKOPS_REKEYED 7
#define WEFT_R_SOCKOPS_REKEY_FAILED 8

/* cgroup/getpeername4 + 6 (getpeername.bpf.c) */
#define WEFT_R_GETPEERNAME_RESTORED 9

/* sk_lookup (sk_lookup.bpf.c) */
#define WEFT_R_SKLOOKUP_PASS_NOT_TCP 10
#define WEFT_R_SKLOOKUP_PASS_LOOPBACK 11
#define WEFT_R_SKLOOKUP_PASS_POD_SELF 12
#define WEFT_R_SKLOOKUP_PASS_PROBE 13
#define WEFT_R_SKLOOKUP_HBONE 14
#define WEFT_R_SKLOOKUP_PLAINTEXT 15
#define WEFT_R_SKLOOKUP_DROP_NO_LISTENER 16
#define WEFT_R_SKLOOKUP_DROP_ASSIGN_FAILED 17

/* DNS capture (dns.bpf.c) */
#define WEFT_R_DNS_REDIRECTED 18
#define WEFT_R_DNS_RESTORED 19
#define WEFT_R_DNS_DENY_RECORD_FAILED 20

/* cgroup/bind4 + 6 (bind.bpf.c) */
#define WEFT_R_BIND_DENIED 21

/* sk_lookup, appended (numbers are never reused) */
#define WEFT_R_SKLOOKUP_PASS_ORIGINAL_SOURCE 22

/* Size of the stats array: room to append without resizing pinned maps. */
#define WEFT_R_MAX 64

#endif
