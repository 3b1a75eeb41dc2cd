/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sockets inside another network namespace, and socket/netns cookies.
 *
 * setns(CLONE_NEWNET) switches the calling THREAD. Doing it on the JS thread or a libuv pool
 * thread would leave other work running in the pod's netns if anything went wrong, so each request
 * runs on its own short-lived pthread: open the netns, setns, socket/setsockopt/bind/listen, setns
 * back, exit. The fd (process-wide) is handed to JS through a threadsafe function. A request can
 * ask for up to MAX_BATCH identical sockets at once (`count`): callers that need one socket per
 * connection keep a few ready and pay the thread + setns round trip once per batch, not per socket.
 */
#define _GNU_SOURCE
#include "weft_native.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif

enum job_kind { JOB_SOCKET, JOB_NETNS_COOKIE, JOB_ORIGINAL_SOURCE };

#define MAX_BATCH 64

struct ns_job {
	enum job_kind kind;
	char path[PATH_MAX];
	/* socket request */
	int family, type;
	bool has_addr;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int backlog; /* < 0: do not listen */
	bool reuseaddr, reuseport, transparent, freebind;
	int v6only;  /* < 0: leave the default */
	int64_t mark; /* < 0: no SO_MARK */
	int count; /* 0: one socket, the result is its fd; else this many, the result is an array */
	/* original-source request: route `mark`ed packets to the local table `table` */
	uint32_t route_table;
	bool remove;
	bool ipv6; /* also set up IPv6 */
	/* result */
	int fd;
	int fds[MAX_BATCH];
	int nfds;
	uint64_t cookie;
	int err;
	const char *syscall;
	const char *code; /* NULL: errno name */
	char msg[256];
	napi_threadsafe_function tsfn;
};

/* Closes every socket the job made that nobody took (failure, or the environment going away). */
static void job_close_fds(struct ns_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	for (int i = 0; i < j->nfds; i++)
		close(j->fds[i]);
	j->nfds = 0;
}

static void job_fail(struct ns_job *j, int err, const char *syscall, const char *code,
		     const char *what)
{
	j->err = err;
	j->syscall = syscall;
	j->code = code;
	snprintf(j->msg, sizeof j->msg, "%s in network namespace %s failed: %s", what, j->path,
		 strerror(err));
}

static bool set_opt(struct ns_job *j, int fd, int level, int name, int value, const char *what)
{
	if (setsockopt(fd, level, name, &value, sizeof value) == 0)
		return true;
	job_fail(j, errno, "setsockopt", NULL, what);
	return false;
}

/* Runs inside the target netns: make the socket. Returns the fd or -1 (j->err set). */
static int make_socket(struct ns_job *j)
{
	int fd = socket(j->family, j->type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		job_fail(j, errno, "socket", NULL, "socket()");
		return -1;
	}
	bool ok = (!j->reuseaddr || set_opt(j, fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")) &&
		  (!j->reuseport || set_opt(j, fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT")) &&
		  (j->mark < 0 || set_opt(j, fd, SOL_SOCKET, SO_MARK, (int)j->mark, "SO_MARK")) &&
		  (j->v6only < 0 || j->family != AF_INET6 ||
		   set_opt(j, fd, IPPROTO_IPV6, IPV6_V6ONLY, j->v6only, "IPV6_V6ONLY")) &&
		  (!j->transparent ||
		   (j->family == AF_INET6
			    ? set_opt(j, fd, IPPROTO_IPV6, IPV6_TRANSPARENT, 1, "IPV6_TRANSPARENT")
			    : set_opt(j, fd, IPPROTO_IP, IP_TRANSPARENT, 1, "IP_TRANSPARENT"))) &&
		  (!j->freebind ||
		   (j->family == AF_INET6
			    ? set_opt(j, fd, IPPROTO_IPV6, IPV6_FREEBIND, 1, "IPV6_FREEBIND")
			    : set_opt(j, fd, IPPROTO_IP, IP_FREEBIND, 1, "IP_FREEBIND")));
	if (ok && j->has_addr && bind(fd, (struct sockaddr *)&j->addr, j->addr_len) != 0) {
		job_fail(j, errno, "bind", NULL, "bind()");
		ok = false;
	}
	if (ok && j->backlog >= 0 && listen(fd, j->backlog) != 0) {
		job_fail(j, errno, "listen", NULL, "listen()");
		ok = false;
	}
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint64_t netns_cookie_here(struct ns_job *j)
{
	/* Any socket reports the cookie of the netns it was created in; AF_UNIX exists everywhere. */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		job_fail(j, errno, "socket", NULL, "socket(AF_UNIX)");
		return 0;
	}
	uint64_t cookie = 0;
	socklen_t len = sizeof cookie;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0)
		job_fail(j, errno, "getsockopt", NULL, "getsockopt(SO_NETNS_COOKIE)");
	close(fd);
	return cookie;
}

/*
 * Original-source routing (the ztunnel connects to the app from the client's own IP, with
 * IP_TRANSPARENT): the app's answers go to a non-local address and would leave by the pod's
 * default route. Three settings inside the pod netns bring them back to ztunnel's socket:
 *   - net.ipv4.tcp_fwmark_accept=1: an accepted socket takes the mark of the SYN that made it, so
 *     the app's socket for a tunnelled connection carries ztunnel's mark (IPv6 too: the sysctl
 *     governs both families);
 *   - `ip rule add fwmark MARK lookup TABLE` (v4 and v6);
 *   - `ip route add local default dev lo table TABLE` (v4 and v6): marked packets are delivered
 *     locally, to the transparent socket that owns their 4-tuple.
 * Nothing else in the pod carries the mark, so the app's own traffic routes as before. Netlink by
 * hand because libbpf has none and a shell-out to iproute2 from the node agent would add a binary
 * dependency; these are two fixed messages. EEXIST (adding) and ENOENT (removing) are success:
 * enrolment is retried and re-adopted, and unenrolment may find a netns already cleaned.
 */
#define ORIGINAL_SOURCE_RULE_PREF 32764

static bool nl_talk(struct ns_job *j, int nl, struct nlmsghdr *msg, const char *what)
{
	static uint32_t seq;
	msg->nlmsg_seq = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	if (send(nl, msg, msg->nlmsg_len, 0) < 0) {
		job_fail(j, errno, "send", NULL, what);
		return false;
	}
	char buf[1024];
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof buf, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			job_fail(j, errno, "recv", NULL, what);
			return false;
		}
		int len = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != msg->nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			int err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
			if (err == 0 || (!j->remove && err == EEXIST) ||
			    (j->remove && (err == ENOENT || err == ESRCH)))
				return true;
			job_fail(j, err, "netlink", NULL, what);
			return false;
		}
	}
}

static void nl_attr_u32(struct nlmsghdr *msg, unsigned short type, uint32_t value)
{
	struct rtattr *a = (struct rtattr *)((char *)msg + NLMSG_ALIGN(msg->nlmsg_len));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(sizeof value);
	memcpy(RTA_DATA(a), &value, sizeof value);
	msg->nlmsg_len = NLMSG_ALIGN(msg->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

struct nl_u32_attr {
	unsigned short type;
	uint32_t value;
};

/* One RTM_NEW* (or, when removing, RTM_DEL*) request: a fixed header and u32 attributes. */
static bool nl_change(struct ns_job *j, int nl, uint16_t add, uint16_t del, const void *hdr,
		      size_t hdr_len, const struct nl_u32_attr *attrs, int nattrs, const char *what)
{
	union {
		struct nlmsghdr h;
		char buf[256];
	} m;
	memset(&m, 0, sizeof m);
	m.h.nlmsg_len = NLMSG_LENGTH(hdr_len);
	m.h.nlmsg_type = j->remove ? del : add;
	m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (j->remove ? 0 : NLM_F_CREATE | NLM_F_EXCL);
	memcpy(NLMSG_DATA(&m.h), hdr, hdr_len);
	for (int i = 0; i < nattrs; i++)
		nl_attr_u32(&m.h, attrs[i].type, attrs[i].value);
	return nl_talk(j, nl, &m.h, what);
}

static bool fwmark_rule(struct ns_job *j, int nl, int family)
{
	struct fib_rule_hdr r = { .family = (uint8_t)family, .action = FR_ACT_TO_TBL };
	/* A fixed preference (ahead of main at 32766): without one the kernel picks a new one per
	 * add, and a repeated add would make a second rule instead of finding the first. */
	const struct nl_u32_attr attrs[] = {
		{ FRA_FWMARK, (uint32_t)j->mark },
		{ FRA_FWMASK, 0xffffffffu },
		{ FRA_TABLE, j->route_table },
		{ FRA_PRIORITY, ORIGINAL_SOURCE_RULE_PREF },
	};
	return nl_change(j, nl, RTM_NEWRULE, RTM_DELRULE, &r, sizeof r, attrs, 4,
			 family == AF_INET ? "ip rule (fwmark, IPv4)" : "ip rule (fwmark, IPv6)");
}

static bool local_default_route(struct ns_job *j, int nl, int family)
{
	struct rtmsg rt = {
		.rtm_family = (uint8_t)family,
		.rtm_table = RT_TABLE_UNSPEC, /* the table is in RTA_TABLE (it may exceed 255) */
		.rtm_protocol = RTPROT_BOOT,
		.rtm_scope = RT_SCOPE_HOST,
		.rtm_type = RTN_LOCAL,
	};
	const struct nl_u32_attr attrs[] = {
		{ RTA_TABLE, j->route_table },
		{ RTA_OIF, 1 }, /* lo is ifindex 1 in every netns */
	};
	return nl_change(j, nl, RTM_NEWROUTE, RTM_DELROUTE, &rt, sizeof rt, attrs, 2,
			 family == AF_INET ? "ip route (local default, IPv4)"
					   : "ip route (local default, IPv6)");
}

static bool write_sysctl(struct ns_job *j, const char *path, const char *value)
{
	/* /proc/sys/net resolves to the netns of the thread that opens it: this one, after setns. */
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		job_fail(j, errno, "open", NULL, path);
		return false;
	}
	ssize_t n = write(fd, value, strlen(value));
	int err = errno;
	close(fd);
	if (n < 0) {
		job_fail(j, err, "write", NULL, path);
		return false;
	}
	return true;
}

static void original_source_here(struct ns_job *j)
{
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0) {
		job_fail(j, errno, "socket", NULL, "socket(AF_NETLINK)");
		return;
	}
	bool ok = write_sysctl(j, "/proc/sys/net/ipv4/tcp_fwmark_accept", j->remove ? "0" : "1") &&
		  fwmark_rule(j, nl, AF_INET) && local_default_route(j, nl, AF_INET) &&
		  (!j->ipv6 || (fwmark_rule(j, nl, AF_INET6) && local_default_route(j, nl, AF_INET6)));
	(void)ok;
	close(nl);
}

static void *job_thread(void *arg)
{
	struct ns_job *j = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = self < 0 ? -1 : open(j->path, O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		job_fail(j, errno, "open", NULL, "opening this thread's netns");
	} else if (target < 0) {
		job_fail(j, errno, "open", NULL, "open()");
	} else if (setns(target, CLONE_NEWNET) != 0) {
		int err = errno;
		job_fail(j, err, "setns", err == EINVAL ? "ENOTNETNS" : NULL, "setns()");
		if (err == EINVAL)
			snprintf(j->msg, sizeof j->msg, "%s is not a network namespace", j->path);
	} else {
		if (j->kind == JOB_SOCKET && j->count == 0) {
			j->fd = make_socket(j);
		} else if (j->kind == JOB_SOCKET) {
			/* All or nothing: a half-filled batch would hide the error from the caller. */
			while (j->nfds < j->count) {
				int fd = make_socket(j);
				if (fd < 0) {
					job_close_fds(j);
					break;
				}
				j->fds[j->nfds++] = fd;
			}
		} else if (j->kind == JOB_ORIGINAL_SOURCE) {
			original_source_here(j);
		} else {
			j->cookie = netns_cookie_here(j);
		}
		if (setns(self, CLONE_NEWNET) != 0) {
			/* The thread exits right after, so nothing else runs in the wrong netns; still,
			 * report it rather than hand out a socket from a thread in an unknown state. */
			job_fail(j, errno, "setns", NULL, "returning from the netns");
			job_close_fds(j);
		}
	}
	if (target >= 0)
		close(target);
	if (self >= 0)
		close(self);
	/* job_done frees j on the JS thread, possibly before the call below returns: copy first. */
	napi_threadsafe_function tsfn = j->tsfn;
	if (napi_call_threadsafe_function(tsfn, j, napi_tsfn_blocking) != napi_ok) {
		/* The environment is shutting down: nobody will take the result. */
		job_close_fds(j);
		free(j);
	}
	napi_release_threadsafe_function(tsfn, napi_tsfn_release);
	return NULL;
}

/* Back on the JS thread: call cb(err, result) and free the job. */
static void job_done(napi_env env, napi_value cb, void *context, void *data)
{
	(void)context;
	struct ns_job *j = data;
	if (!env || !cb) { /* environment shutting down */
		job_close_fds(j);
		free(j);
		return;
	}
	napi_value argv[2], undefined;
	napi_get_undefined(env, &undefined);
	if (j->err) {
		argv[0] = weft_make_error(env, j->code, j->err, j->syscall, j->path, "%s", j->msg);
		argv[1] = undefined;
	} else if (j->kind == JOB_SOCKET && j->count > 0) {
		napi_get_null(env, &argv[0]);
		if (napi_create_array_with_length(env, (size_t)j->nfds, &argv[1]) != napi_ok) {
			job_close_fds(j);
			argv[0] = weft_make_error(env, "ENOMEM", ENOMEM, "napi_create_array", j->path,
						  "cannot hand over the sockets made in %s", j->path);
			argv[1] = undefined;
		} else {
			for (int i = 0; i < j->nfds; i++)
				napi_set_element(env, argv[1], (uint32_t)i, weft_i64(env, j->fds[i]));
		}
	} else if (j->kind == JOB_ORIGINAL_SOURCE) {
		napi_get_null(env, &argv[0]);
		argv[1] = undefined;
	} else {
		napi_get_null(env, &argv[0]);
		argv[1] = j->kind == JOB_SOCKET ? weft_i64(env, j->fd) : weft_u64_bigint(env, j->cookie);
	}
	free(j);
	napi_call_function(env, undefined, cb, 2, argv, NULL);
}

static napi_value start_job(napi_env env, struct ns_job *j, napi_value cb)
{
	napi_valuetype t = napi_undefined;
	napi_typeof(env, cb, &t);
	if (t != napi_function) {
		free(j);
		return weft_throw_inval(env, "callback must be a function");
	}
	napi_value name = weft_str(env, "weft.netns");
	if (napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, NULL, NULL, NULL, job_done,
					    &j->tsfn) != napi_ok) {
		free(j);
		return NULL;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t tid;
	int err = pthread_create(&tid, &attr, job_thread, j);
	pthread_attr_destroy(&attr);
	if (err) {
		napi_release_threadsafe_function(j->tsfn, napi_tsfn_abort);
		free(j);
		return weft_throw(env, NULL, err, "pthread_create", NULL, "cannot start a netns thread: %s",
				  strerror(err));
	}
	return NULL;
}

static struct ns_job *new_job(napi_env env, enum job_kind kind, napi_value path_v)
{
	struct ns_job *j = calloc(1, sizeof *j);
	if (!j) {
		weft_throw(env, "ENOMEM", ENOMEM, "calloc", NULL, "out of memory");
		return NULL;
	}
	j->kind = kind;
	j->fd = -1;
	j->backlog = -1;
	j->v6only = -1;
	j->mark = -1;
	if (!weft_arg_string(env, path_v, "netns path", j->path, sizeof j->path)) {
		free(j);
		return NULL;
	}
	return j;
}

/*
 * socketInNetns(netnsPath, { family: 4|6, type: 'tcp'|'udp', address?, port?, backlog?,
 *   reuseaddr?, reuseport?, transparent?, freebind?, v6only?, mark?, count? }, cb(err, fd))
 * With an address the socket is bound; with a backlog it also listens. With `count` (1..64, not
 * with a backlog) that many identical sockets are made and cb gets an array of fds.
 */
static napi_value socket_in_netns(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 3);
	struct ns_job *j = new_job(env, JOB_SOCKET, argv[0]);
	if (!j)
		return NULL;
	napi_valuetype t = napi_undefined;
	napi_typeof(env, argv[1], &t);
	int64_t family = 0, port = 0, backlog = 0, mark = 0, count = 0;
	bool has_family, has_port, has_backlog, has_mark, has_type, has_addr, has_count, present,
		v6only = false;
	char type[8], address[INET6_ADDRSTRLEN + 1];
	if (t != napi_object) {
		free(j);
		return weft_throw_inval(env, "socket options must be an object");
	}
	if (!weft_opt_int(env, argv[1], "family", 4, 6, &has_family, &family) ||
	    !weft_opt_string(env, argv[1], "type", type, sizeof type, &has_type) ||
	    !weft_opt_string(env, argv[1], "address", address, sizeof address, &has_addr) ||
	    !weft_opt_int(env, argv[1], "port", 0, 65535, &has_port, &port) ||
	    !weft_opt_int(env, argv[1], "backlog", 0, 65535, &has_backlog, &backlog) ||
	    !weft_opt_int(env, argv[1], "mark", 0, UINT32_MAX, &has_mark, &mark) ||
	    !weft_opt_int(env, argv[1], "count", 1, MAX_BATCH, &has_count, &count) ||
	    !weft_opt_bool(env, argv[1], "reuseaddr", &present, &j->reuseaddr) ||
	    !weft_opt_bool(env, argv[1], "reuseport", &present, &j->reuseport) ||
	    !weft_opt_bool(env, argv[1], "transparent", &present, &j->transparent) ||
	    !weft_opt_bool(env, argv[1], "freebind", &present, &j->freebind) ||
	    !weft_opt_bool(env, argv[1], "v6only", &present, &v6only)) {
		free(j);
		return NULL;
	}
	if (present)
		j->v6only = v6only;
	if (!has_family || (family != 4 && family != 6)) {
		free(j);
		return weft_throw_inval(env, "family must be 4 or 6");
	}
	j->family = family == 4 ? AF_INET : AF_INET6;
	if (!has_type || (strcmp(type, "tcp") != 0 && strcmp(type, "udp") != 0)) {
		free(j);
		return weft_throw_inval(env, "type must be 'tcp' or 'udp'");
	}
	j->type = type[0] == 't' ? SOCK_STREAM : SOCK_DGRAM;
	if (has_backlog && (j->type != SOCK_STREAM || !has_addr)) {
		free(j);
		return weft_throw_inval(env, "backlog needs a tcp socket with an address to listen on");
	}
	if (has_count && has_backlog) {
		free(j);
		return weft_throw_inval(env, "count and backlog exclude each other (one listener per port)");
	}
	if (has_port && !has_addr) {
		free(j);
		return weft_throw_inval(env, "port needs an address");
	}
	if (has_addr) {
		j->has_addr = true;
		if (j->family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&j->addr;
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			if (inet_pton(AF_INET, address, &sin->sin_addr) != 1) {
				free(j);
				return weft_throw_inval(env, "address '%s' is not an IPv4 address", address);
			}
			j->addr_len = sizeof *sin;
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&j->addr;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			if (inet_pton(AF_INET6, address, &sin6->sin6_addr) != 1) {
				free(j);
				return weft_throw_inval(env, "address '%s' is not an IPv6 address", address);
			}
			j->addr_len = sizeof *sin6;
		}
	}
	if (has_backlog)
		j->backlog = (int)backlog;
	if (has_mark)
		j->mark = mark;
	if (has_count)
		j->count = (int)count;
	return start_job(env, j, argv[2]);
}

/* netnsCookie(netnsPath, cb(err, bigint)) */
static napi_value netns_cookie(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	struct ns_job *j = new_job(env, JOB_NETNS_COOKIE, argv[0]);
	return j ? start_job(env, j, argv[1]) : NULL;
}

/*
 * netnsOriginalSource(netnsPath, { mark, table, ipv6, remove }, cb(err)): sets up (or with
 * `remove`, takes down) the routing that returns an app's answers to ztunnel's transparent
 * sockets marked `mark` (see original_source_here).
 */
static napi_value netns_original_source(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 3);
	struct ns_job *j = new_job(env, JOB_ORIGINAL_SOURCE, argv[0]);
	if (!j)
		return NULL;
	napi_valuetype t = napi_undefined;
	napi_typeof(env, argv[1], &t);
	if (t != napi_object) {
		free(j);
		return weft_throw_inval(env, "original-source options must be an object");
	}
	int64_t mark = 0, table = 0;
	bool has_mark, has_table, present;
	if (!weft_opt_int(env, argv[1], "mark", 1, UINT32_MAX, &has_mark, &mark) ||
	    !weft_opt_int(env, argv[1], "table", 1, 0xfffffffe, &has_table, &table) ||
	    !weft_opt_bool(env, argv[1], "ipv6", &present, &j->ipv6) ||
	    !weft_opt_bool(env, argv[1], "remove", &present, &j->remove)) {
		free(j);
		return NULL;
	}
	if (!has_mark || !has_table || table == 253 || table == 254 || table == 255) {
		free(j);
		return weft_throw_inval(env, "mark (non-zero) and table (not default/main/local) are required");
	}
	j->mark = mark;
	j->route_table = (uint32_t)table;
	return start_job(env, j, argv[2]);
}

static napi_value sock_cookie(napi_env env, napi_callback_info info, int opt, const char *what)
{
	WEFT_ARGS(env, info, 1);
	int64_t fd;
	if (!weft_arg_int(env, argv[0], "socket fd", 0, INT32_MAX, &fd))
		return NULL;
	uint64_t cookie = 0;
	socklen_t len = sizeof cookie;
	if (getsockopt((int)fd, SOL_SOCKET, opt, &cookie, &len) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "getsockopt", NULL, "getsockopt(%s) on fd %d failed: %s",
				  what, (int)fd, strerror(err));
	}
	return weft_u64_bigint(env, cookie);
}

/*
 * socketBind(fd, address, port) -> the bound port. Synchronous: bind() acts on the socket's own
 * netns whatever the calling thread's, so a socket made in a pod netns can be bound from here.
 * ztunnel binds a transparent socket to the client's IP this way to learn the port before it
 * registers the dial in weft_orig_src and connects.
 */
static napi_value socket_bind(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 3);
	int64_t fd, port;
	char address[INET6_ADDRSTRLEN + 1];
	if (!weft_arg_int(env, argv[0], "socket fd", 0, INT32_MAX, &fd) ||
	    !weft_arg_string(env, argv[1], "address", address, sizeof address) ||
	    !weft_arg_int(env, argv[2], "port", 0, 65535, &port))
		return NULL;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t len;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		len = sizeof *sin;
	} else if (inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		len = sizeof *sin6;
	} else {
		return weft_throw_inval(env, "address '%s' is not an IP address", address);
	}
	if (bind((int)fd, (struct sockaddr *)&ss, len) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "bind", NULL, "bind(%s, %d) on fd %d failed: %s", address,
				  (int)port, (int)fd, strerror(err));
	}
	len = sizeof ss;
	if (getsockname((int)fd, (struct sockaddr *)&ss, &len) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "getsockname", NULL, "getsockname on fd %d failed: %s",
				  (int)fd, strerror(err));
	}
	return weft_i64(env, ntohs(ss.ss_family == AF_INET6 ? sin6->sin6_port : sin->sin_port));
}

/* socketCookie(fd) -> bigint (SO_COOKIE, what bpf_get_socket_cookie sees) */
static napi_value socket_cookie(napi_env env, napi_callback_info info)
{
	return sock_cookie(env, info, SO_COOKIE, "SO_COOKIE");
}

/* socketNetnsCookie(fd) -> bigint (SO_NETNS_COOKIE of the netns the socket lives in) */
static napi_value socket_netns_cookie(napi_env env, napi_callback_info info)
{
	return sock_cookie(env, info, SO_NETNS_COOKIE, "SO_NETNS_COOKIE");
}

void weft_init_netns(napi_env env, napi_value exports)
{
	WEFT_EXPORT(env, exports, "socketInNetns", socket_in_netns);
	WEFT_EXPORT(env, exports, "netnsCookie", netns_cookie);
	WEFT_EXPORT(env, exports, "netnsOriginalSource", netns_original_source);
	WEFT_EXPORT(env, exports, "socketCookie", socket_cookie);
	WEFT_EXPORT(env, exports, "socketBind", socket_bind);
	WEFT_EXPORT(env, exports, "socketNetnsCookie", socket_netns_cookie);
}
