/* SPDX-License-Identifier: Apache-2.0 */
/*
 * @weft/native: a thin N-API layer over libbpf and a few syscalls. Every entry point validates its
 * arguments and reports failures as a thrown (or callback) WeftNativeError:
 *   { name: 'WeftNativeError', code: 'ENOENT' | 'EINVAL' | 'ENOTBPFFS' | ..., errno, syscall, path?, log? }
 * It never aborts the process. Ownership: object and map handles own their resources and close
 * them on close() or, as a last resort, when garbage-collected; link and socket fds are plain
 * numbers owned by the TypeScript wrapper.
 */
#ifndef WEFT_NATIVE_H
#define WEFT_NATIVE_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpf/libbpf.h>

/* ---- errors (util.c) ---- */

/* Build a WeftNativeError value. `code` NULL means "the errno name of err". */
napi_value weft_make_error(napi_env env, const char *code, int err, const char *syscall,
			   const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Throw one; always returns NULL so callers can `return weft_throw(...)`. */
napi_value weft_throw(napi_env env, const char *code, int err, const char *syscall,
		      const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define weft_throw_inval(env, ...) weft_throw((env), "EINVAL", EINVAL, "argument", NULL, __VA_ARGS__)
/* The errno's symbolic name, e.g. "ENOENT". */
const char *weft_errno_name(int err);

/* libbpf's log lines since the last weft_log_reset() on this thread, attached to errors as `log`. */
void weft_log_reset(void);
void weft_log_install(void);

/* ---- argument helpers (util.c); each throws EINVAL and returns false on a bad argument ---- */

bool weft_arg_string(napi_env env, napi_value v, const char *what, char *buf, size_t cap);
bool weft_arg_int(napi_env env, napi_value v, const char *what, int64_t min, int64_t max, int64_t *out);
bool weft_arg_buffer(napi_env env, napi_value v, const char *what, void **data, size_t *len);
bool weft_arg_is_nullish(napi_env env, napi_value v);
/* Optional property of an options object: returns false only on a thrown error; *present tells. */
bool weft_opt_int(napi_env env, napi_value obj, const char *key, int64_t min, int64_t max,
		  bool *present, int64_t *out);
bool weft_opt_bool(napi_env env, napi_value obj, const char *key, bool *present, bool *out);
bool weft_opt_string(napi_env env, napi_value obj, const char *key, char *buf, size_t cap,
		     bool *present);
bool weft_opt_buffer(napi_env env, napi_value obj, const char *key, void **data, size_t *len,
		     bool *present);

/* Small value builders; they return NULL only if N-API itself failed. */
napi_value weft_u32(napi_env env, uint32_t v);
napi_value weft_i64(napi_env env, int64_t v);
napi_value weft_u64_bigint(napi_env env, uint64_t v);
napi_value weft_str(napi_env env, const char *s);
void weft_set(napi_env env, napi_value obj, const char *key, napi_value v);

/* Is `path` on a filesystem with this statfs magic? Returns 1 yes, 0 no, -errno on error. */
int weft_fs_is(const char *path, long magic);

/* ---- handles ---- */

struct weft_object {
	struct bpf_object *obj;
	bool loaded;
};

struct weft_map {
	int fd;
	uint32_t type, key_size, value_size, max_entries, id;
	uint32_t value_buf_size; /* value_size, or rounded up * possible CPUs for per-CPU maps */
	char name[16];
	bool no_lookup_and_delete; /* the kernel refused it once: mapTake falls back for good */
};

/* Unwrap an object handle; throws and returns NULL if `v` is not one or it is closed. */
struct weft_object *weft_object_arg(napi_env env, napi_value v, bool need_loaded);
struct weft_map *weft_map_arg(napi_env env, napi_value v);
/* Wrap an owned map fd in a handle (closes the fd on failure). */
napi_value weft_map_wrap(napi_env env, int fd, const char *path_for_errors);
/* Find a loaded program of an object by name; throws on failure. */
struct bpf_program *weft_program_arg(napi_env env, struct weft_object *o, napi_value name_v,
				     char *name_buf, size_t cap);

/* Throw the error of a failed BPF_OBJ_PIN at `path`, naming a missing bpffs mount as ENOTBPFFS. */
napi_value weft_pin_error(napi_env env, int err, const char *path, const char *what);

/* Check that fd is the kind of bpf object expected ("bpf-map", "bpf_link", "bpf-prog"). */
bool weft_fd_is_anon(int fd, const char *kind);

/* ---- exported function groups; each adds its functions to `exports` ---- */
void weft_init_object(napi_env env, napi_value exports);
void weft_init_map(napi_env env, napi_value exports);
void weft_init_link(napi_env env, napi_value exports);
void weft_init_netns(napi_env env, napi_value exports);

#define WEFT_EXPORT(env, exports, name, fn)                                                        \
	do {                                                                                       \
		napi_value f_;                                                                     \
		if (napi_create_function((env), (name), NAPI_AUTO_LENGTH, (fn), NULL, &f_) == napi_ok) \
			napi_set_named_property((env), (exports), (name), f_);                     \
	} while (0)

/* Fetch up to N arguments into argv (missing ones are undefined). */
#define WEFT_ARGS(env, info, n)                                                                    \
	size_t argc = (n);                                                                         \
	napi_value argv[(n) > 0 ? (n) : 1];                                                        \
	if (napi_get_cb_info((env), (info), &argc, argv, NULL, NULL) != napi_ok)                   \
		return NULL;                                                                       \
	for (size_t i_ = argc; i_ < (size_t)(n); i_++)                                             \
		napi_get_undefined((env), &argv[i_]);

#endif
