/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map weft's programs share, and the layout of their keys and values.
 *
 * All maps are pinned by name (LIBBPF_PIN_BY_NAME) under the pin root given at load time (for
 * example /sys/fs/bpf/weft), so the separate objects (connect, sockops, getpeername, sk_lookup,
 * dns, bind) share one instance of each map, and a restarted ztunnel re-opens the same maps.
 *
 * Layout rules, checked against the TypeScript codecs by native/test/layout.test.ts:
 *  - every address is 16 bytes in network byte order; IPv4 is stored v4-mapped (::ffff:a.b.c.d),
 *    so one key shape serves both families and a v4 socket and a v4-mapped v6 socket agree;
 *  - ports are __be16 (network byte order); cookies and counters are host-endian u64;
 *  - addresses are 4-byte aligned so programs can move them as 32-bit words;
 *  - no implicit padding: every hole is an explicit `pad` field that writers zero, because hash
 *    keys are compared byte by byte.
 * Changing a struct changes the pinned maps' key/value sizes: libbpf then refuses to reuse a map
 * pinned by an older version, so bump carefully and unpin on upgrade.
 */
#ifndef WEFT_MAPS_H
#define WEFT_MAPS_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "reasons.h"

/* Original destination of a redirected connection, as the app asked for it. */
struct weft_orig_dst {
	__u8 addr[16] __attribute__((aligned(4)));  /* v4-mapped for IPv4 */
	__be16 port;
	__u8 family;    /* AF_INET or AF_INET6: the family of the app's socket */
	__u8 protocol;  /* IPPROTO_TCP or IPPROTO_UDP */
};

/*
 * A TCP connection in a pod netns, exactly: the netns cookie and the 4-tuple.
 * In weft_orig_conn: a redirected connection as ztunnel sees it after accept(): src = the accepted
 * socket's remote address (the app's local address), dst = its local address (127.0.0.1:15001 or
 * [::1]:15001). In weft_orig_src: ztunnel's dial to an app, src = the client, dst = the app.
 */
struct weft_conn_key {
	__u64 netns_cookie;
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__be16 src_port;
	__be16 dst_port;
	__u32 pad;
};

/* One IP address (v4-mapped for IPv4). */
struct weft_ip_key {
	__u8 addr[16] __attribute__((aligned(4)));
};

/* An enrolled pod, found by one of its IPs. */
struct weft_pod_info {
	__u64 netns_cookie;  /* of the pod's network namespace */
	__u32 flags;         /* reserved, zero */
	__u32 pad;
};

/* CIDR key for LPM tries. IPv4 prefixes are v4-mapped: prefixlen = 96 + the IPv4 length. */
struct weft_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Which of ztunnel's in-pod listeners a socket in weft_listeners is. */
#define WEFT_LISTENER_PLAINTEXT 1  /* :15006 */
#define WEFT_LISTENER_HBONE 2      /* :15008 */

/* ztunnel's listener for one pod IP and kind. */
struct weft_listener_key {
	__u8 addr[16] __attribute__((aligned(4)));
	__u32 kind;
};

/* Original destination per socket, freed by the kernel with the socket (see connect.bpf.c). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct weft_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_orig_sk SEC(".maps");

/* Original destination by connection; written by sockops, read and deleted by ztunnel. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct weft_conn_key);
	__type(value, struct weft_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_orig_conn SEC(".maps");

/* IPs of enrolled pods on this node, written by the node agent on enrol. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct weft_ip_key);
	__type(value, struct weft_pod_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_pod_ips SEC(".maps");

/* Destinations outbound capture leaves alone (e.g. the apiserver, link-local). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, struct weft_lpm_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_exclude SEC(".maps");

/* Sources inbound capture lets through to the app (kubelet probes). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 256);
	__type(key, struct weft_lpm_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_probe_allow SEC(".maps");

/* ztunnel's in-pod listeners; the kernel removes a socket when it closes (fail closed). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 8192);
	__type(key, struct weft_listener_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_listeners SEC(".maps");

/*
 * ztunnel's connections to apps from the client's own IP (original source), by {pod netns cookie,
 * src = client IP:port, dst = pod IP:app port}: written by ztunnel between bind() and connect(),
 * deleted once connected. sk_lookup lets exactly these through to the app; without the entry a
 * SYN from a foreign address would be captured again (ADR 0006). LRU: a ztunnel that dies
 * mid-dial leaves nothing that grows.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct weft_conn_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_orig_src SEC(".maps");

/* Counters indexed by WEFT_R_* reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WEFT_R_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_stats SEC(".maps");

#endif
