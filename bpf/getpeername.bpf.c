// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup/getpeername4 + 6 on each enrolled pod's cgroup: a redirected TCP socket reports the
 * destination the app connected to, not ztunnel's 127.0.0.1:15001, so apps (and their logs)
 * see the real peer.
 */
#include "include/maps.h"
#include "lib/addr.h"
#include "lib/capture.h"
#include "lib/stats.h"

SEC("cgroup/getpeername4")
int weft_getpeername4(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 1;
	struct weft_orig_dst *orig = weft_lookup_orig(ctx->sk, IPPROTO_TCP);
	if (!orig)
		return 1;
	ctx->user_ip4 = ((__u32 *)orig->addr)[3];
	ctx->user_port = orig->port;
	weft_count(WEFT_R_GETPEERNAME_RESTORED);
	return 1;
}

SEC("cgroup/getpeername6")
int weft_getpeername6(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 1;
	struct weft_orig_dst *orig = weft_lookup_orig(ctx->sk, IPPROTO_TCP);
	if (!orig)
		return 1;
	const __u32 *w = (const __u32 *)orig->addr;
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
	ctx->user_port = orig->port;
	weft_count(WEFT_R_GETPEERNAME_RESTORED);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
