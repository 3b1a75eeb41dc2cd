// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Opt-in DNS capture (mesh config): UDP to port 53 from an enrolled pod goes to ztunnel's DNS
 * proxy in the pod netns (127.0.0.1:15053; [::1]:15053 for native IPv6, so the proxy listens on
 * both), and replies and getpeername show the server the app asked. Covers connected sockets
 * (connect4/6) and unconnected ones (sendmsg4/6). For an unconnected socket that talks to several
 * servers, replies are attributed to the last server it sent to (the record is per socket).
 */
#include "include/maps.h"
#include "lib/addr.h"
#include "lib/capture.h"
#include "lib/dns.h"
#include "lib/stats.h"

const volatile __u16 dns_proxy_port = 15053;

static __always_inline int redirect4(struct bpf_sock_addr *ctx)
{
	__u8 dst[16] __attribute__((aligned(4)));
	weft_addr_from_v4(dst, ctx->user_ip4);
	int verdict = weft_dns_capture(ctx, dst, AF_INET);
	if (verdict < 0)
		return 0;
	if (verdict > 0) {
		ctx->user_ip4 = bpf_htonl(WEFT_LOOPBACK4);
		ctx->user_port = bpf_htons(dns_proxy_port);
	}
	return 1;
}

static __always_inline int redirect6(struct bpf_sock_addr *ctx)
{
	__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1], w2 = ctx->user_ip6[2],
	      w3 = ctx->user_ip6[3];
	__u8 dst[16] __attribute__((aligned(4)));
	weft_addr_from_v6(dst, w0, w1, w2, w3);
	int verdict = weft_dns_capture(ctx, dst, AF_INET6);
	if (verdict < 0)
		return 0;
	if (verdict > 0) {
		if (weft_v6_is_v4mapped(w0, w1, w2)) {
			ctx->user_ip6[3] = bpf_htonl(WEFT_LOOPBACK4);
		} else {
			ctx->user_ip6[0] = 0;
			ctx->user_ip6[1] = 0;
			ctx->user_ip6[2] = 0;
			ctx->user_ip6[3] = bpf_htonl(1);
		}
		ctx->user_port = bpf_htons(dns_proxy_port);
	}
	return 1;
}

/* Replace the proxy's address with the recorded server, if this socket was redirected. */
static __always_inline int restore4(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_UDP || ctx->user_port != bpf_htons(dns_proxy_port) ||
	    ctx->user_ip4 != bpf_htonl(WEFT_LOOPBACK4))
		return 1;
	struct weft_orig_dst *orig = weft_lookup_orig(ctx->sk, IPPROTO_UDP);
	if (!orig)
		return 1;
	ctx->user_ip4 = ((__u32 *)orig->addr)[3];
	ctx->user_port = orig->port;
	weft_count(WEFT_R_DNS_RESTORED);
	return 1;
}

static __always_inline int restore6(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_UDP || ctx->user_port != bpf_htons(dns_proxy_port))
		return 1;
	__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1], w2 = ctx->user_ip6[2],
	      w3 = ctx->user_ip6[3];
	int from_proxy = (w0 == 0 && w1 == 0 && w2 == 0 && w3 == bpf_htonl(1)) ||
			 (weft_v6_is_v4mapped(w0, w1, w2) && w3 == bpf_htonl(WEFT_LOOPBACK4));
	if (!from_proxy)
		return 1;
	struct weft_orig_dst *orig = weft_lookup_orig(ctx->sk, IPPROTO_UDP);
	if (!orig)
		return 1;
	const __u32 *w = (const __u32 *)orig->addr;
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
	ctx->user_port = orig->port;
	weft_count(WEFT_R_DNS_RESTORED);
	return 1;
}

SEC("cgroup/connect4")
int weft_dns_connect4(struct bpf_sock_addr *ctx) { return redirect4(ctx); }

SEC("cgroup/connect6")
int weft_dns_connect6(struct bpf_sock_addr *ctx) { return redirect6(ctx); }

SEC("cgroup/sendmsg4")
int weft_dns_sendmsg4(struct bpf_sock_addr *ctx) { return redirect4(ctx); }

SEC("cgroup/sendmsg6")
int weft_dns_sendmsg6(struct bpf_sock_addr *ctx) { return redirect6(ctx); }

SEC("cgroup/recvmsg4")
int weft_dns_recvmsg4(struct bpf_sock_addr *ctx) { return restore4(ctx); }

SEC("cgroup/recvmsg6")
int weft_dns_recvmsg6(struct bpf_sock_addr *ctx) { return restore6(ctx); }

SEC("cgroup/getpeername4")
int weft_dns_getpeername4(struct bpf_sock_addr *ctx) { return restore4(ctx); }

SEC("cgroup/getpeername6")
int weft_dns_getpeername6(struct bpf_sock_addr *ctx) { return restore6(ctx); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
