/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address helpers. Addresses are 16 bytes, network byte order, IPv4 v4-mapped (see maps.h). */
#ifndef WEFT_LIB_ADDR_H
#define WEFT_LIB_ADDR_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif
#ifndef IPPROTO_UDP
#define IPPROTO_UDP 17
#endif

/*
 * Read a ctx field right here. Without the barrier clang may merge two branches' loads into one
 * load through a computed ctx pointer, which the verifier rejects ("dereference of modified ctx
 * ptr").
 */
#define WEFT_CTX_U32(field)                                                                        \
	({                                                                                          \
		__u32 __v = (field);                                                                \
		asm volatile("" : "+r"(__v));                                                      \
		__v;                                                                                \
	})

#define WEFT_LOOPBACK4 0x7f000001 /* 127.0.0.1, host order */

/* Write IPv4 `ip4` (network order) as ::ffff:a.b.c.d into `out`. */
static __always_inline void weft_addr_from_v4(__u8 out[16], __u32 ip4)
{
	__u32 *w = (__u32 *)out;
	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0x0000ffff);
	w[3] = ip4;
}

/* Copy an IPv6 address given as four network-order words (the ctx layout) into `out`. */
static __always_inline void weft_addr_from_v6(__u8 out[16], __u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	__u32 *w = (__u32 *)out;
	w[0] = w0;
	w[1] = w1;
	w[2] = w2;
	w[3] = w3;
}

/* Is this IPv6 address (network-order words) v4-mapped ::ffff:a.b.c.d? */
static __always_inline int weft_v6_is_v4mapped(__u32 w0, __u32 w1, __u32 w2)
{
	return w0 == 0 && w1 == 0 && w2 == bpf_htonl(0x0000ffff);
}

/* 127.0.0.0/8 or 0.0.0.0 (connecting to "any" reaches this host): both stay local. */
static __always_inline int weft_v4_is_local(__u32 ip4)
{
	__u32 h = bpf_ntohl(ip4);
	return (h >> 24) == 127 || h == 0;
}

/* ::1, :: (this host), or v4-mapped 127/8. */
static __always_inline int weft_v6_is_local(__u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	if (w0 == 0 && w1 == 0 && w2 == 0 && (w3 == 0 || w3 == bpf_htonl(1)))
		return 1;
	return weft_v6_is_v4mapped(w0, w1, w2) && weft_v4_is_local(w3);
}

/* Same test on a 16-byte address. */
static __always_inline int weft_addr_is_local(const __u8 a[16])
{
	const __u32 *w = (const __u32 *)a;
	return weft_v6_is_local(w[0], w[1], w[2], w[3]);
}

#endif
