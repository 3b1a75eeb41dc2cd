// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Inbound capture: one sk_lookup program linked into every enrolled pod netns. For a new TCP
 * connection, in order (DESIGN §4):
 *   1. not TCP                                              -> pass (normal socket lookup)
 *   2. remote is 127/8, ::1, the pod itself, or a probe source -> pass
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
