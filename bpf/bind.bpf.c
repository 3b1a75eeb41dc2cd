// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Optional: cgroup/bind4 + 6 on enrolled pods' cgroups deny apps binding ztunnel's in-pod ports
 * (15001, 15006, 15008, 15053), so an app cannot squat on them and receive captured traffic.
 * ztunnel's own listeners are unaffected: cgroup hooks follow the cgroup of the process that
 * created the socket, and ztunnel is not in a pod cgroup.
 */
#include "include/maps.h"
#include "lib/addr.h"
#include "lib/stats.h"

const volatile __u16 outbound_port = 15001;
const volatile __u16 inbound_port = 15006;
const volatile __u16 hbone_port = 15008;
const volatile __u16 dns_proxy_port = 15053;

static __always_inline int check(struct bpf_sock_addr *ctx)
{
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	if (port == outbound_port || port == inbound_port || port == hbone_port ||
	    port == dns_proxy_port) {
		weft_count(WEFT_R_BIND_DENIED);
		return 0; /* bind() fails with EPERM */
	}
	return 1;
}

SEC("cgroup/bind4")
int weft_bind4(struct bpf_sock_addr *ctx) { return check(ctx); }

SEC("cgroup/bind6")
int weft_bind6(struct bpf_sock_addr *ctx) { return check(ctx); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
