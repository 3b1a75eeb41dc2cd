// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops on each enrolled pod's cgroup: when a redirected connection is established
 * (ACTIVE_ESTABLISHED_CB runs on SYN-ACK, before the final ACK reaches ztunnel's accept queue),
 * publish its original destination under {pod netns cookie, 4-tuple} in weft_orig_conn, which is
 * what ztunnel can compute from an accepted socket. ztunnel deletes the entry after its lookup.
 */
#include "include/maps.h"
#include "lib/addr.h"
#include "lib/capture.h"
#include "lib/stats.h"

SEC("sockops")
int weft_sockops(struct bpf_sock_ops *skops)
{
	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	struct bpf_sock *sk = skops->sk;
	if (!sk)
		return 1;
	struct weft_orig_dst *orig = weft_lookup_orig(sk, IPPROTO_TCP);
	if (!orig)
		return 1;

	struct weft_conn_key key = {};
	key.netns_cookie = bpf_get_netns_cookie(skops);
	if (skops->family == AF_INET) {
		weft_addr_from_v4(key.src_addr, WEFT_CTX_U32(skops->local_ip4));
		weft_addr_from_v4(key.dst_addr, WEFT_CTX_U32(skops->remote_ip4));
	} else {
		/* A v4-mapped v6 socket already holds ::ffff:a.b.c.d, matching the v4 form above. */
		weft_addr_from_v6(key.src_addr, WEFT_CTX_U32(skops->local_ip6[0]),
				  WEFT_CTX_U32(skops->local_ip6[1]), WEFT_CTX_U32(skops->local_ip6[2]),
				  WEFT_CTX_U32(skops->local_ip6[3]));
		weft_addr_from_v6(key.dst_addr, WEFT_CTX_U32(skops->remote_ip6[0]),
				  WEFT_CTX_U32(skops->remote_ip6[1]), WEFT_CTX_U32(skops->remote_ip6[2]),
				  WEFT_CTX_U32(skops->remote_ip6[3]));
	}
	key.src_port = bpf_htons((__u16)skops->local_port);    /* host order in ctx */
	key.dst_port = bpf_htons((__u16)bpf_ntohl(skops->remote_port)); /* be16 in the high half */

	struct weft_orig_dst value = *orig;
	if (bpf_map_update_elem(&weft_orig_conn, &key, &value, BPF_ANY)) {
		weft_count(WEFT_R_SOCKOPS_REKEY_FAILED);
		return 1;
	}
	weft_count(WEFT_R_SOCKOPS_REKEYED);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
