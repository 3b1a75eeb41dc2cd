/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* DNS capture decisions shared by the connect/sendmsg hooks of dns.bpf.c. */
#ifndef WEFT_LIB_DNS_H
#define WEFT_LIB_DNS_H

#include "../include/maps.h"
#include "addr.h"
#include "capture.h"
#include "stats.h"

#define WEFT_DNS_PORT 53

/*
 * Should a UDP datagram or connect from this ctx to `dst` (16-byte) go to the DNS proxy? Records
 * the original server on the socket when it should. Returns 1 redirect, 0 leave alone, -1 deny.
 */
static __always_inline int weft_dns_capture(struct bpf_sock_addr *ctx, const __u8 dst[16], __u8 family)
{
	if (ctx->protocol != IPPROTO_UDP || ctx->user_port != bpf_htons(WEFT_DNS_PORT))
		return 0;
	if (weft_addr_is_local(dst) || weft_is_excluded(dst))
		return 0;
	if (weft_record_orig(ctx->sk, dst, (__be16)ctx->user_port, family, IPPROTO_UDP)) {
		weft_count(WEFT_R_DNS_DENY_RECORD_FAILED);
		return -1;
	}
	weft_count(WEFT_R_DNS_REDIRECTED);
	return 1;
}

#endif
