// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Outbound capture: cgroup/connect4 + connect6 on each enrolled pod's cgroup. A TCP connect to
 * anything but loopback, the pod itself or an excluded CIDR is rewritten to ztunnel's outbound
 * listener in the pod netns (127.0.0.1:15001 / [::1]:15001; ::ffff:127.0.0.1 for v4-mapped), and
 * the original destination is recorded on the socket for sockops and getpeername.
 */
#include "include/maps.h"
#include "lib/addr.h"
#include "lib/capture.h"
#include "lib/stats.h"

/* Set by the loader (BpfObject rodata); defaults are DESIGN §2's ports. */
const volatile __u16 outbound_port = 15001;

/* Verdicts of cgroup sock_addr programs. */
#define ALLOW 1
#define DENY 0

SEC("cgroup/connect4")
int weft_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP) {
		weft_count(WEFT_R_CONNECT_SKIP_NOT_TCP);
		return ALLOW;
	}
	__u32 ip4 = ctx->user_ip4;
	if (weft_v4_is_local(ip4)) {
		weft_count(WEFT_R_CONNECT_SKIP_LOOPBACK);
		return ALLOW;
	}
	__u8 dst[16] __attribute__((aligned(4)));
	weft_addr_from_v4(dst, ip4);
	if (weft_is_pod_self(dst, bpf_get_netns_cookie(ctx))) {
		weft_count(WEFT_R_CONNECT_SKIP_POD_SELF);
		return ALLOW;
	}
	if (weft_is_excluded(dst)) {
		weft_count(WEFT_R_CONNECT_SKIP_EXCLUDED);
		return ALLOW;
	}
	/* Fail closed: without a record ztunnel cannot know where to go, so refuse the connect. */
	if (weft_record_orig(ctx->sk, dst, (__be16)ctx->user_port, AF_INET, IPPROTO_TCP)) {
		weft_count(WEFT_R_CONNECT_DENY_RECORD_FAILED);
		return DENY;
	}
	ctx->user_ip4 = bpf_htonl(WEFT_LOOPBACK4);
	ctx->user_port = bpf_htons(outbound_port);
	weft_count(WEFT_R_CONNECT_REDIRECTED);
	return ALLOW;
}

SEC("cgroup/connect6")
int weft_connect6(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP) {
		weft_count(WEFT_R_CONNECT_SKIP_NOT_TCP);
		return ALLOW;
	}
	__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1], w2 = ctx->user_ip6[2],
	      w3 = ctx->user_ip6[3];
	if (weft_v6_is_local(w0, w1, w2, w3)) {
		weft_count(WEFT_R_CONNECT_SKIP_LOOPBACK);
		return ALLOW;
	}
	__u8 dst[16] __attribute__((aligned(4)));
	weft_addr_from_v6(dst, w0, w1, w2, w3);
	if (weft_is_pod_self(dst, bpf_get_netns_cookie(ctx))) {
		weft_count(WEFT_R_CONNECT_SKIP_POD_SELF);
		return ALLOW;
	}
	if (weft_is_excluded(dst)) {
		weft_count(WEFT_R_CONNECT_SKIP_EXCLUDED);
		return ALLOW;
	}
	if (weft_record_orig(ctx->sk, dst, (__be16)ctx->user_port, AF_INET6, IPPROTO_TCP)) {
		weft_count(WEFT_R_CONNECT_DENY_RECORD_FAILED);
		return DENY;
	}
	if (weft_v6_is_v4mapped(w0, w1, w2)) {
		/* A v4 destination on a v6 socket must stay v4: ::ffff:127.0.0.1 reaches the v4 listener. */
		ctx->user_ip6[3] = bpf_htonl(WEFT_LOOPBACK4);
	} else {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = 0;
		ctx->user_ip6[3] = bpf_htonl(1);
	}
	ctx->user_port = bpf_htons(outbound_port);
	weft_count(WEFT_R_CONNECT_REDIRECTED);
	return ALLOW;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
