/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpf_links as plain fds: attach to a cgroup v2 directory or a network namespace, pin, open
 * pinned, update, detach, inspect. A link lives while an fd or a pin refers to it.
 */
#define _GNU_SOURCE
#include "weft_native.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <bpf/bpf.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

napi_value weft_pin_error(napi_env env, int err, const char *path, const char *what)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	const char *parent = dirname(dir);
	if (err == EPERM && weft_fs_is(parent, BPF_FS_MAGIC) == 0)
		return weft_throw(env, "ENOTBPFFS", err, "bpf(BPF_OBJ_PIN)", path,
				  "cannot pin %s at %s: %s is not on a bpffs mount", what, path, parent);
	return weft_throw(env, NULL, err, "bpf(BPF_OBJ_PIN)", path, "cannot pin %s at %s: %s", what,
			  path, strerror(err));
}

static bool is_cgroup_type(enum bpf_prog_type t)
{
	switch (t) {
	case BPF_PROG_TYPE_CGROUP_SKB:
	case BPF_PROG_TYPE_CGROUP_SOCK:
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
	case BPF_PROG_TYPE_SOCK_OPS:
	case BPF_PROG_TYPE_CGROUP_DEVICE:
	case BPF_PROG_TYPE_CGROUP_SYSCTL:
	case BPF_PROG_TYPE_CGROUP_SOCKOPT:
		return true;
	default:
		return false;
	}
}

/* attachCgroup(h, progName, cgroupDir) -> link fd */
static napi_value attach_cgroup(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 3);
	struct weft_object *o = weft_object_arg(env, argv[0], true);
	if (!o)
		return NULL;
	char name[128], path[PATH_MAX];
	struct bpf_program *p = weft_program_arg(env, o, argv[1], name, sizeof name);
	if (!p || !weft_arg_string(env, argv[2], "cgroup path", path, sizeof path))
		return NULL;
	enum bpf_prog_type type = bpf_program__type(p);
	if (!is_cgroup_type(type))
		return weft_throw(env, "EINVAL", EINVAL, "bpf(BPF_LINK_CREATE)", path,
				  "program '%s' is of type %s, which does not attach to a cgroup", name,
				  libbpf_bpf_prog_type_str(type));
	int cg = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "open", path, "cannot open cgroup %s: %s", path,
				  strerror(err));
	}
	if (weft_fs_is(path, CGROUP2_SUPER_MAGIC) != 1) {
		close(cg);
		return weft_throw(env, "EINVAL", EINVAL, "statfs", path,
				  "%s is not a cgroup v2 directory", path);
	}
	weft_log_reset();
	int fd = bpf_link_create(bpf_program__fd(p), cg, bpf_program__expected_attach_type(p), NULL);
	int err = errno;
	close(cg);
	if (fd < 0)
		return weft_throw(env, NULL, err, "bpf(BPF_LINK_CREATE)", path,
				  "cannot attach '%s' (%s) to cgroup %s: %s", name,
				  libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(p)), path,
				  strerror(err));
	return weft_i64(env, fd);
}

/* attachNetns(h, progName, netnsPath) -> link fd (sk_lookup, flow_dissector) */
static napi_value attach_netns(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 3);
	struct weft_object *o = weft_object_arg(env, argv[0], true);
	if (!o)
		return NULL;
	char name[128], path[PATH_MAX];
	struct bpf_program *p = weft_program_arg(env, o, argv[1], name, sizeof name);
	if (!p || !weft_arg_string(env, argv[2], "netns path", path, sizeof path))
		return NULL;
	enum bpf_prog_type type = bpf_program__type(p);
	if (type != BPF_PROG_TYPE_SK_LOOKUP && type != BPF_PROG_TYPE_FLOW_DISSECTOR)
		return weft_throw(env, "EINVAL", EINVAL, "bpf(BPF_LINK_CREATE)", path,
				  "program '%s' is of type %s, which does not attach to a network namespace",
				  name, libbpf_bpf_prog_type_str(type));
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "open", path, "cannot open network namespace %s: %s",
				  path, strerror(err));
	}
	if (ioctl(ns, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(ns);
		return weft_throw(env, "EINVAL", EINVAL, "ioctl(NS_GET_NSTYPE)", path,
				  "%s is not a network namespace", path);
	}
	weft_log_reset();
	int fd = bpf_link_create(bpf_program__fd(p), ns, bpf_program__expected_attach_type(p), NULL);
	int err = errno;
	close(ns);
	if (fd < 0)
		return weft_throw(env, NULL, err, "bpf(BPF_LINK_CREATE)", path,
				  "cannot attach '%s' (%s) to network namespace %s: %s", name,
				  libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(p)), path,
				  strerror(err));
	return weft_i64(env, fd);
}

static bool fd_arg(napi_env env, napi_value v, const char *what, int *fd)
{
	int64_t n;
	if (!weft_arg_int(env, v, what, 0, INT32_MAX, &n))
		return false;
	*fd = (int)n;
	return true;
}

/* A link fd argument. The kernel answers a stale fd with EINVAL; say EBADF and why instead. */
static bool link_fd_arg(napi_env env, napi_value v, int *fd)
{
	if (!fd_arg(env, v, "link fd", fd))
		return false;
	if (!weft_fd_is_anon(*fd, "bpf_link")) {
		weft_throw(env, "EBADF", EBADF, "bpf", NULL, "fd %d is not an open bpf link", *fd);
		return false;
	}
	return true;
}

/* linkPin(fd, path) */
static napi_value link_pin(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	int fd;
	char path[PATH_MAX];
	if (!link_fd_arg(env, argv[0], &fd) ||
	    !weft_arg_string(env, argv[1], "pin path", path, sizeof path))
		return NULL;
	if (bpf_obj_pin(fd, path) != 0)
		return weft_pin_error(env, errno, path, "link");
	return NULL;
}

/* linkOpenPinned(path) -> fd */
static napi_value link_open_pinned(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	char path[PATH_MAX];
	if (!weft_arg_string(env, argv[0], "pinned link path", path, sizeof path))
		return NULL;
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "bpf(BPF_OBJ_GET)", path,
				  "cannot open pinned link %s: %s", path, strerror(err));
	}
	if (!weft_fd_is_anon(fd, "bpf_link")) {
		close(fd);
		return weft_throw(env, "EINVAL", EINVAL, "bpf(BPF_OBJ_GET)", path,
				  "%s is pinned but is not a link", path);
	}
	return weft_i64(env, fd);
}

/* unpin(path): remove a pin (of a link, map or program) from bpffs. */
static napi_value unpin(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	char path[PATH_MAX];
	if (!weft_arg_string(env, argv[0], "pin path", path, sizeof path))
		return NULL;
	if (unlink(path) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "unlink", path, "cannot unpin %s: %s", path,
				  strerror(err));
	}
	return NULL;
}

/* linkUpdate(fd, h, progName): swap the program of a live link atomically. */
static napi_value link_update(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 3);
	int fd;
	if (!link_fd_arg(env, argv[0], &fd))
		return NULL;
	struct weft_object *o = weft_object_arg(env, argv[1], true);
	if (!o)
		return NULL;
	char name[128];
	struct bpf_program *p = weft_program_arg(env, o, argv[2], name, sizeof name);
	if (!p)
		return NULL;
	if (bpf_link_update(fd, bpf_program__fd(p), NULL) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "bpf(BPF_LINK_UPDATE)", NULL,
				  "cannot update link fd %d to program '%s': %s", fd, name, strerror(err));
	}
	return NULL;
}

/* linkDetach(fd): detach now, even if pinned or other fds refer to it. */
static napi_value link_detach(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	int fd;
	if (!link_fd_arg(env, argv[0], &fd))
		return NULL;
	if (bpf_link_detach(fd) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "bpf(BPF_LINK_DETACH)", NULL,
				  "cannot detach link fd %d: %s", fd, strerror(err));
	}
	return NULL;
}

/*
 * linkInfo(fd) -> { id, type, progId, attachType?, cgroupId?, netnsIno? }
 * A netns link whose namespace is gone reports netnsIno 0 (garbage-collect it).
 */
static napi_value link_info(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	int fd;
	if (!link_fd_arg(env, argv[0], &fd))
		return NULL;
	struct bpf_link_info li;
	uint32_t len = sizeof li;
	memset(&li, 0, sizeof li);
	if (bpf_obj_get_info_by_fd(fd, &li, &len) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "bpf(BPF_OBJ_GET_INFO_BY_FD)", NULL,
				  "cannot read info of link fd %d: %s", fd, strerror(err));
	}
	napi_value r;
	napi_create_object(env, &r);
	weft_set(env, r, "id", weft_u32(env, li.id));
	weft_set(env, r, "type", weft_str(env, libbpf_bpf_link_type_str(li.type)));
	weft_set(env, r, "progId", weft_u32(env, li.prog_id));
	if (li.type == BPF_LINK_TYPE_CGROUP) {
		weft_set(env, r, "cgroupId", weft_u64_bigint(env, li.cgroup.cgroup_id));
		weft_set(env, r, "attachType", weft_str(env, libbpf_bpf_attach_type_str(li.cgroup.attach_type)));
	} else if (li.type == BPF_LINK_TYPE_NETNS) {
		weft_set(env, r, "netnsIno", weft_u32(env, li.netns.netns_ino));
		weft_set(env, r, "attachType", weft_str(env, libbpf_bpf_attach_type_str(li.netns.attach_type)));
	}
	return r;
}

/* closeFd(fd) */
static napi_value close_fd(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	int fd;
	if (!fd_arg(env, argv[0], "fd", &fd))
		return NULL;
	if (fd <= 2)
		return weft_throw_inval(env, "refusing to close stdio fd %d", fd);
	if (close(fd) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "close", NULL, "cannot close fd %d: %s", fd, strerror(err));
	}
	return NULL;
}

void weft_init_link(napi_env env, napi_value exports)
{
	WEFT_EXPORT(env, exports, "attachCgroup", attach_cgroup);
	WEFT_EXPORT(env, exports, "attachNetns", attach_netns);
	WEFT_EXPORT(env, exports, "linkPin", link_pin);
	WEFT_EXPORT(env, exports, "linkOpenPinned", link_open_pinned);
	WEFT_EXPORT(env, exports, "unpin", unpin);
	WEFT_EXPORT(env, exports, "linkUpdate", link_update);
	WEFT_EXPORT(env, exports, "linkDetach", link_detach);
	WEFT_EXPORT(env, exports, "linkInfo", link_info);
	WEFT_EXPORT(env, exports, "closeFd", close_fd);
}
