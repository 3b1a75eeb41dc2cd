/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Decisions shared by the outbound programs (connect, dns). */
#ifndef WEFT_LIB_CAPTURE_H
#define WEFT_LIB_CAPTURE_H

#include "../include/maps.h"
#include "addr.h"

/* Is `addr` one of the IPs of the pod whose netns cookie is `netns_cookie`? */
static __always_inline int weft_is_pod_self(const __u8 addr[16], __u64 netns_cookie)
{
	struct weft_ip_key key;
	__builtin_memcpy(key.addr, addr, 16);
	struct weft_pod_info *pod = bpf_map_lookup_elem(&weft_pod_ips, &key);
	return pod && pod->netns_cookie == netns_cookie;
}

/* Does an exclude CIDR cover `addr`? */
static __always_inline int weft_is_excluded(const __u8 addr[16])
{
	struct weft_lpm_key key = { .prefixlen = 128 };
	__builtin_memcpy(key.addr, addr, 16);
	return bpf_map_lookup_elem(&weft_exclude, &key) != 0;
}

/*
 * Remember where the app wanted to go, on the socket itself: socket storage is freed by the
 * kernel with the socket, so long-lived connections keep their record (an LRU keyed by socket
 * cookie would evict it under churn and getpeername would then lie). Returns 0 on success.
 */
static __always_inline int weft_record_orig(struct bpf_sock *sk, const __u8 addr[16], __be16 port,
					    __u8 family, __u8 protocol)
{
	if (!sk)
		return -1;
	struct weft_orig_dst *orig =
		bpf_sk_storage_get(&weft_orig_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig)
		return -1;
	__builtin_memcpy(orig->addr, addr, 16);
	orig->port = port;
	orig->family = family;
	orig->protocol = protocol;
	return 0;
}

/* The record made by weft_record_orig for this socket and protocol, or NULL. */
static __always_inline struct weft_orig_dst *weft_lookup_orig(struct bpf_sock *sk, __u8 protocol)
{
	if (!sk)
		return 0;
	struct weft_orig_dst *orig = bpf_sk_storage_get(&weft_orig_sk, sk, 0, 0);
	if (!orig || orig->protocol != protocol)
		return 0;
	return orig;
}

#endif
