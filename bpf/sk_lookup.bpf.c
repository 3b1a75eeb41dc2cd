// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Inbound capture: one sk_lookup program linked into every enrolled pod netns. For a new TCP
 * connection, in order (DESIGN §4):
 *   1. not TCP                                              -> pass (normal socket lookup)
 *   2. remote is 127/8, ::1, the pod itself, or a probe source -> pass
 *      ztunnel's own dial to the app from the client's IP    -> pass: its exact 4-tuple is in
 *      weft_orig_src, written by ztunnel between bind() and connect() (original source, ADR 0006)
 *   3. local port is the HBONE port                          -> ztunnel's HBONE listener
 *   4. anything else                                         -> ztunnel's plaintext listener
 *   5. no listener for this pod IP in weft_listeners          -> drop: fail closed, never deliver
 *      plaintext to the app behind ztunnel's back (e.g. while ztunnel restarts).
 * The original destination is the accepted socket's local address: nothing to record.
 */
#include "include/maps.h"
#include "lib/addr.h"
#include "lib/stats.h"

const volatile __u16 hbone_port = 15008;


static __always_inline int pass(__u32 reason)
{
	weft_count(reason);
	return SK_PASS;
}

static __always_inline int drop(__u32 reason)
{
	weft_count(reason);
	return SK_DROP;
}

/* Both addresses belong to the same enrolled pod (it is talking to itself via its own IP). */
static __always_inline int same_pod(const __u8 remote[16], const __u8 local[16])
{
	struct weft_ip_key key;
	__builtin_memcpy(key.addr, remote, 16);
	struct weft_pod_info *r = bpf_map_lookup_elem(&weft_pod_ips, &key);
	if (!r)
		return 0;
	__u64 cookie = r->netns_cookie;
	__builtin_memcpy(key.addr, local, 16);
	struct weft_pod_info *l = bpf_map_lookup_elem(&weft_pod_ips, &key);
	return l && l->netns_cookie == cookie;
}

/* ztunnel is connecting to the app from the client's own IP: it registered this exact dial. */
static __always_inline int is_original_source_dial(const struct bpf_sk_lookup *ctx,
						   const __u8 remote[16], const __u8 local[16])
{
	struct weft_ip_key ip;
	__builtin_memcpy(ip.addr, local, 16);
	struct weft_pod_info *pod = bpf_map_lookup_elem(&weft_pod_ips, &ip);
	if (!pod)
		return 0;
	struct weft_conn_key key = { .netns_cookie = pod->netns_cookie };
	__builtin_memcpy(key.src_addr, remote, 16);
	__builtin_memcpy(key.dst_addr, local, 16);
	key.src_port = (__be16)ctx->remote_port;
	key.dst_port = bpf_htons((__u16)ctx->local_port);
	return bpf_map_lookup_elem(&weft_orig_src, &key) != 0;
}

static __always_inline int is_probe(const __u8 remote[16])
{
	struct weft_lpm_key key = { .prefixlen = 128 };
	__builtin_memcpy(key.addr, remote, 16);
	return bpf_map_lookup_elem(&weft_probe_allow, &key) != 0;
}

SEC("sk_lookup")
int weft_sk_lookup(struct bpf_sk_lookup *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return pass(WEFT_R_SKLOOKUP_PASS_NOT_TCP);

	__u8 remote[16] __attribute__((aligned(4)));
	struct weft_listener_key key = {};
	if (ctx->family == AF_INET) {
		weft_addr_from_v4(remote, WEFT_CTX_U32(ctx->remote_ip4));
		weft_addr_from_v4(key.addr, WEFT_CTX_U32(ctx->local_ip4));
	} else {
		weft_addr_from_v6(remote, WEFT_CTX_U32(ctx->remote_ip6[0]),
				  WEFT_CTX_U32(ctx->remote_ip6[1]), WEFT_CTX_U32(ctx->remote_ip6[2]),
				  WEFT_CTX_U32(ctx->remote_ip6[3]));
		weft_addr_from_v6(key.addr, WEFT_CTX_U32(ctx->local_ip6[0]),
				  WEFT_CTX_U32(ctx->local_ip6[1]), WEFT_CTX_U32(ctx->local_ip6[2]),
				  WEFT_CTX_U32(ctx->local_ip6[3]));
	}
	if (weft_addr_is_local(remote))
		return pass(WEFT_R_SKLOOKUP_PASS_LOOPBACK);
	if (same_pod(remote, key.addr))
		return pass(WEFT_R_SKLOOKUP_PASS_POD_SELF);
	if (is_original_source_dial(ctx, remote, key.addr))
		return pass(WEFT_R_SKLOOKUP_PASS_ORIGINAL_SOURCE);
	if (is_probe(remote))
		return pass(WEFT_R_SKLOOKUP_PASS_PROBE);

	int hbone = ctx->local_port == hbone_port;
	key.kind = hbone ? WEFT_LISTENER_HBONE : WEFT_LISTENER_PLAINTEXT;
	struct bpf_sock *sk = bpf_map_lookup_elem(&weft_listeners, &key);
	if (!sk)
		return drop(WEFT_R_SKLOOKUP_DROP_NO_LISTENER);
	long err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return drop(WEFT_R_SKLOOKUP_DROP_ASSIGN_FAILED);
	return pass(hbone ? WEFT_R_SKLOOKUP_HBONE : WEFT_R_SKLOOKUP_PLAINTEXT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
