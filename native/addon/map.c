/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map handles: an owned map fd plus its key/value sizes, read once with BPF_OBJ_GET_INFO_BY_FD so
 * every lookup/update can check Buffer sizes without another syscall.
 */
#define _GNU_SOURCE
#include "weft_native.h"

#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's own "not supported", which bpf() can return */
#endif

static const napi_type_tag MAP_TAG = { 0x77656674306d6170ULL, 0x5be1c07a3d924e18ULL };

static void map_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	struct weft_map *m = data;
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

static bool is_percpu(uint32_t type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

napi_value weft_map_wrap(napi_env env, int fd, const char *path)
{
	struct bpf_map_info info;
	uint32_t len = sizeof info;
	memset(&info, 0, sizeof info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
		int err = errno;
		close(fd);
		return weft_throw(env, NULL, err, "bpf(BPF_OBJ_GET_INFO_BY_FD)", path,
				  "cannot read map info: %s", strerror(err));
	}
	struct weft_map *m = calloc(1, sizeof *m);
	if (!m) {
		close(fd);
		return weft_throw(env, "ENOMEM", ENOMEM, "calloc", NULL, "out of memory");
	}
	m->fd = fd;
	m->type = info.type;
	m->key_size = info.key_size;
	m->value_size = info.value_size;
	m->max_entries = info.max_entries;
	m->id = info.id;
	memcpy(m->name, info.name, sizeof m->name);
	m->name[sizeof m->name - 1] = '\0';
	m->value_buf_size = m->value_size;
	if (is_percpu(m->type)) {
		int cpus = libbpf_num_possible_cpus();
		m->value_buf_size = ((m->value_size + 7) & ~7u) * (uint32_t)(cpus > 0 ? cpus : 1);
	}
	napi_value handle;
	if (napi_create_external(env, m, map_finalize, NULL, &handle) != napi_ok) {
		map_finalize(env, m, NULL);
		return NULL;
	}
	napi_type_tag_object(env, handle, &MAP_TAG);
	return handle;
}

struct weft_map *weft_map_arg(napi_env env, napi_value v)
{
	napi_valuetype t = napi_undefined;
	napi_typeof(env, v, &t);
	bool tagged = false;
	if (t == napi_external)
		napi_check_object_type_tag(env, v, &MAP_TAG, &tagged);
	if (!tagged) {
		weft_throw_inval(env, "expected a bpf map handle");
		return NULL;
	}
	struct weft_map *m = NULL;
	napi_get_value_external(env, v, (void **)&m);
	if (!m || m->fd < 0) {
		weft_throw(env, "EBADF", EBADF, "bpf_map", NULL, "the bpf map %s is closed",
			   m ? m->name : "");
		return NULL;
	}
	return m;
}

static bool key_arg(napi_env env, struct weft_map *m, napi_value v, void **key)
{
	size_t len = 0;
	if (!weft_arg_buffer(env, v, "key", key, &len))
		return false;
	if (len != m->key_size) {
		weft_throw_inval(env, "map %s has %u-byte keys, got a %zu-byte key", m->name,
				 m->key_size, len);
		return false;
	}
	return true;
}

static napi_value map_error(napi_env env, struct weft_map *m, const char *op)
{
	int err = errno;
	char syscall[64];
	snprintf(syscall, sizeof syscall, "bpf(%s)", op);
	return weft_throw(env, NULL, err, syscall, NULL, "%s on map %s failed: %s", op, m->name,
			  strerror(err));
}

/* mapOpenPinned(path) -> handle */
static napi_value map_open_pinned(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	char path[PATH_MAX];
	if (!weft_arg_string(env, argv[0], "pinned map path", path, sizeof path))
		return NULL;
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "bpf(BPF_OBJ_GET)", path,
				  "cannot open pinned map %s: %s", path, strerror(err));
	}
	if (!weft_fd_is_anon(fd, "bpf-map")) {
		close(fd);
		return weft_throw(env, "EINVAL", EINVAL, "bpf(BPF_OBJ_GET)", path,
				  "%s is pinned but is not a map", path);
	}
	return weft_map_wrap(env, fd, path);
}

/* mapInfo(h) -> { name, type, keySize, valueSize, valueBufSize, maxEntries, id, fd } */
static napi_value map_info(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	if (!m)
		return NULL;
	napi_value r;
	napi_create_object(env, &r);
	weft_set(env, r, "name", weft_str(env, m->name));
	weft_set(env, r, "type", weft_str(env, libbpf_bpf_map_type_str(m->type)));
	weft_set(env, r, "keySize", weft_u32(env, m->key_size));
	weft_set(env, r, "valueSize", weft_u32(env, m->value_size));
	weft_set(env, r, "valueBufSize", weft_u32(env, m->value_buf_size));
	weft_set(env, r, "maxEntries", weft_u32(env, m->max_entries));
	weft_set(env, r, "id", weft_u32(env, m->id));
	weft_set(env, r, "fd", weft_i64(env, m->fd));
	return r;
}

/* mapLookup(h, key) -> Buffer | null */
static napi_value map_lookup(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	void *key;
	if (!m || !key_arg(env, m, argv[1], &key))
		return NULL;
	void *value;
	napi_value buf;
	if (napi_create_buffer(env, m->value_buf_size, &value, &buf) != napi_ok)
		return NULL;
	if (bpf_map_lookup_elem(m->fd, key, value) != 0) {
		if (errno == ENOENT) {
			napi_value null;
			napi_get_null(env, &null);
			return null;
		}
		return map_error(env, m, "BPF_MAP_LOOKUP_ELEM");
	}
	return buf;
}

/*
 * mapTake(h, key) -> Buffer | null: lookup and delete in one syscall (BPF_MAP_LOOKUP_AND_DELETE_ELEM,
 * hash maps since Linux 5.14), one syscall fewer per captured connection. Where the kernel or map
 * type does not have it, a lookup then a delete, as before.
 */
static napi_value map_take(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	void *key;
	if (!m || !key_arg(env, m, argv[1], &key))
		return NULL;
	void *value;
	napi_value buf, null;
	napi_get_null(env, &null);
	if (napi_create_buffer(env, m->value_buf_size, &value, &buf) != napi_ok)
		return NULL;
	if (!m->no_lookup_and_delete) {
		if (bpf_map_lookup_and_delete_elem(m->fd, key, value) == 0)
			return buf;
		if (errno == ENOENT)
			return null;
		if (errno != EINVAL && errno != ENOTSUPP && errno != EOPNOTSUPP)
			return map_error(env, m, "BPF_MAP_LOOKUP_AND_DELETE_ELEM");
		m->no_lookup_and_delete = true;
	}
	if (bpf_map_lookup_elem(m->fd, key, value) != 0) {
		if (errno == ENOENT)
			return null;
		return map_error(env, m, "BPF_MAP_LOOKUP_ELEM");
	}
	/* Gone in between (another taker): it was still ours to read. */
	if (bpf_map_delete_elem(m->fd, key) != 0 && errno != ENOENT)
		return map_error(env, m, "BPF_MAP_DELETE_ELEM");
	return buf;
}

/* mapUpdate(h, key, value, flags) */
static napi_value map_update(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 4);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	void *key, *value;
	size_t value_len;
	int64_t flags = 0;
	if (!m || !key_arg(env, m, argv[1], &key) ||
	    !weft_arg_buffer(env, argv[2], "value", &value, &value_len))
		return NULL;
	if (!weft_arg_is_nullish(env, argv[3]) && !weft_arg_int(env, argv[3], "flags", 0, 7, &flags))
		return NULL;
	if (value_len != m->value_buf_size)
		return weft_throw_inval(env, "map %s takes %u-byte values, got %zu bytes", m->name,
					m->value_buf_size, value_len);
	if (bpf_map_update_elem(m->fd, key, value, (uint64_t)flags) != 0)
		return map_error(env, m, "BPF_MAP_UPDATE_ELEM");
	return NULL;
}

/* mapSockUpdate(h, key, socketFd, flags): put a socket into a SOCKHASH/SOCKMAP. */
static napi_value map_sock_update(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 4);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	void *key;
	int64_t sock_fd, flags = 0;
	if (!m || !key_arg(env, m, argv[1], &key) ||
	    !weft_arg_int(env, argv[2], "socket fd", 0, INT32_MAX, &sock_fd))
		return NULL;
	if (!weft_arg_is_nullish(env, argv[3]) && !weft_arg_int(env, argv[3], "flags", 0, 7, &flags))
		return NULL;
	if (m->type != BPF_MAP_TYPE_SOCKHASH && m->type != BPF_MAP_TYPE_SOCKMAP)
		return weft_throw_inval(env, "map %s is a %s, not a sockhash or sockmap", m->name,
					libbpf_bpf_map_type_str(m->type));
	uint64_t v64 = (uint64_t)sock_fd;
	uint32_t v32 = (uint32_t)sock_fd;
	void *value = m->value_size == 8 ? (void *)&v64 : (void *)&v32;
	if (bpf_map_update_elem(m->fd, key, value, (uint64_t)flags) != 0)
		return map_error(env, m, "BPF_MAP_UPDATE_ELEM");
	return NULL;
}

/* mapDelete(h, key) -> boolean (false: there was no such key) */
static napi_value map_delete(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	void *key;
	if (!m || !key_arg(env, m, argv[1], &key))
		return NULL;
	napi_value r;
	if (bpf_map_delete_elem(m->fd, key) != 0) {
		if (errno != ENOENT)
			return map_error(env, m, "BPF_MAP_DELETE_ELEM");
		napi_get_boolean(env, false, &r);
		return r;
	}
	napi_get_boolean(env, true, &r);
	return r;
}

/* mapNextKey(h, key | null) -> Buffer | null (null: no more keys) */
static napi_value map_next_key(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	if (!m)
		return NULL;
	void *key = NULL;
	if (!weft_arg_is_nullish(env, argv[1]) && !key_arg(env, m, argv[1], &key))
		return NULL;
	void *next;
	napi_value buf;
	if (napi_create_buffer(env, m->key_size, &next, &buf) != napi_ok)
		return NULL;
	if (bpf_map_get_next_key(m->fd, key, next) != 0) {
		if (errno == ENOENT) {
			napi_value null;
			napi_get_null(env, &null);
			return null;
		}
		return map_error(env, m, "BPF_MAP_GET_NEXT_KEY");
	}
	return buf;
}

/* mapPin(h, path) */
static napi_value map_pin(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	char path[PATH_MAX];
	if (!m || !weft_arg_string(env, argv[1], "pin path", path, sizeof path))
		return NULL;
	if (bpf_obj_pin(m->fd, path) != 0) {
		return weft_pin_error(env, errno, path, m->name);
	}
	return NULL;
}

static napi_value map_close(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	struct weft_map *m = weft_map_arg(env, argv[0]);
	if (!m)
		return NULL;
	close(m->fd);
	m->fd = -1;
	return NULL;
}

void weft_init_map(napi_env env, napi_value exports)
{
	WEFT_EXPORT(env, exports, "mapOpenPinned", map_open_pinned);
	WEFT_EXPORT(env, exports, "mapInfo", map_info);
	WEFT_EXPORT(env, exports, "mapLookup", map_lookup);
	WEFT_EXPORT(env, exports, "mapUpdate", map_update);
	WEFT_EXPORT(env, exports, "mapSockUpdate", map_sock_update);
	WEFT_EXPORT(env, exports, "mapDelete", map_delete);
	WEFT_EXPORT(env, exports, "mapTake", map_take);
	WEFT_EXPORT(env, exports, "mapNextKey", map_next_key);
	WEFT_EXPORT(env, exports, "mapPin", map_pin);
	WEFT_EXPORT(env, exports, "mapClose", map_close);
}
