/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE
#include "weft_native.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

/* ---- libbpf log capture ----
 * libbpf explains most failures (verifier log, pinned-map mismatch) only through its print
 * callback. Keep the tail of it per thread and hand it to the error, instead of spraying stderr. */

#define LOG_CAP 8192
static __thread char log_buf[LOG_CAP];
static __thread size_t log_len;

void weft_log_reset(void)
{
	log_len = 0;
	log_buf[0] = '\0';
}

static int log_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	char line[1024];
	int n = vsnprintf(line, sizeof line, fmt, args);
	if (n <= 0)
		return 0;
	size_t len = strnlen(line, sizeof line);
	if (len >= LOG_CAP)
		len = LOG_CAP - 1;
	if (log_len + len >= LOG_CAP) {
		/* Keep the tail: the verifier's verdict is at the end. */
		size_t drop = log_len + len - (LOG_CAP - 1);
		if (drop > log_len)
			drop = log_len;
		memmove(log_buf, log_buf + drop, log_len - drop);
		log_len -= drop;
	}
	memcpy(log_buf + log_len, line, len);
	log_len += len;
	log_buf[log_len] = '\0';
	return 0;
}

void weft_log_install(void)
{
	libbpf_set_print(log_print);
}

/* ---- errors ---- */

const char *weft_errno_name(int err)
{
	const char *name = err > 0 ? strerrorname_np(err) : NULL;
	return name ? name : "EUNKNOWN";
}

static napi_value make_error_v(napi_env env, const char *code, int err, const char *syscall,
			       const char *path, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (!code)
		code = weft_errno_name(err);
	napi_value code_v, msg_v, error;
	if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok ||
	    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v) != napi_ok ||
	    napi_create_error(env, code_v, msg_v, &error) != napi_ok)
		return NULL;
	weft_set(env, error, "name", weft_str(env, "WeftNativeError"));
	weft_set(env, error, "errno", weft_i64(env, err));
	weft_set(env, error, "syscall", weft_str(env, syscall ? syscall : ""));
	if (path)
		weft_set(env, error, "path", weft_str(env, path));
	if (log_len > 0)
		weft_set(env, error, "log", weft_str(env, log_buf));
	return error;
}

napi_value weft_make_error(napi_env env, const char *code, int err, const char *syscall,
			   const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	napi_value e = make_error_v(env, code, err, syscall, path, fmt, ap);
	va_end(ap);
	return e;
}

napi_value weft_throw(napi_env env, const char *code, int err, const char *syscall,
		      const char *path, const char *fmt, ...)
{
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (pending)
		return NULL; /* keep the first, more specific error */
	va_list ap;
	va_start(ap, fmt);
	napi_value e = make_error_v(env, code, err, syscall, path, fmt, ap);
	va_end(ap);
	if (e)
		napi_throw(env, e);
	return NULL;
}

/* ---- values ---- */

napi_value weft_u32(napi_env env, uint32_t v)
{
	napi_value r = NULL;
	napi_create_uint32(env, v, &r);
	return r;
}

napi_value weft_i64(napi_env env, int64_t v)
{
	napi_value r = NULL;
	napi_create_int64(env, v, &r);
	return r;
}

napi_value weft_u64_bigint(napi_env env, uint64_t v)
{
	napi_value r = NULL;
	napi_create_bigint_uint64(env, v, &r);
	return r;
}

napi_value weft_str(napi_env env, const char *s)
{
	napi_value r = NULL;
	napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &r);
	return r;
}

void weft_set(napi_env env, napi_value obj, const char *key, napi_value v)
{
	if (v)
		napi_set_named_property(env, obj, key, v);
}

/* ---- arguments ---- */

static const char *type_name(napi_valuetype t)
{
	switch (t) {
	case napi_undefined: return "undefined";
	case napi_null: return "null";
	case napi_boolean: return "boolean";
	case napi_number: return "number";
	case napi_string: return "string";
	case napi_symbol: return "symbol";
	case napi_object: return "object";
	case napi_function: return "function";
	case napi_external: return "external";
	case napi_bigint: return "bigint";
	}
	return "unknown";
}

static napi_valuetype type_of(napi_env env, napi_value v)
{
	napi_valuetype t = napi_undefined;
	napi_typeof(env, v, &t);
	return t;
}

bool weft_arg_is_nullish(napi_env env, napi_value v)
{
	napi_valuetype t = type_of(env, v);
	return t == napi_undefined || t == napi_null;
}

bool weft_arg_string(napi_env env, napi_value v, const char *what, char *buf, size_t cap)
{
	napi_valuetype t = type_of(env, v);
	if (t != napi_string) {
		weft_throw_inval(env, "%s must be a string, got %s", what, type_name(t));
		return false;
	}
	size_t len = 0;
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
		return false;
	if (len == 0 || len >= cap) {
		weft_throw_inval(env, "%s must be a non-empty string shorter than %zu bytes", what, cap);
		return false;
	}
	if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok)
		return false;
	if (strlen(buf) != len) {
		weft_throw_inval(env, "%s must not contain NUL characters", what);
		return false;
	}
	return true;
}

bool weft_arg_int(napi_env env, napi_value v, const char *what, int64_t min, int64_t max, int64_t *out)
{
	napi_valuetype t = type_of(env, v);
	if (t != napi_number) {
		weft_throw_inval(env, "%s must be an integer, got %s", what, type_name(t));
		return false;
	}
	double d = 0;
	napi_get_value_double(env, v, &d);
	if (d != d || d < (double)min || d > (double)max || d != (double)(int64_t)d) {
		weft_throw_inval(env, "%s must be an integer in [%lld, %lld], got %g", what,
				 (long long)min, (long long)max, d);
		return false;
	}
	*out = (int64_t)d;
	return true;
}

bool weft_arg_buffer(napi_env env, napi_value v, const char *what, void **data, size_t *len)
{
	bool is_buffer = false;
	napi_is_buffer(env, v, &is_buffer);
	if (is_buffer)
		return napi_get_buffer_info(env, v, data, len) == napi_ok;
	bool is_ta = false;
	napi_is_typedarray(env, v, &is_ta);
	if (is_ta) {
		napi_typedarray_type tt;
		size_t n = 0, off = 0;
		napi_value ab;
		if (napi_get_typedarray_info(env, v, &tt, &n, data, &ab, &off) != napi_ok)
			return false;
		if (tt == napi_uint8_array) {
			*len = n;
			return true;
		}
	}
	weft_throw_inval(env, "%s must be a Buffer or Uint8Array, got %s", what, type_name(type_of(env, v)));
	return false;
}

static bool get_prop(napi_env env, napi_value obj, const char *key, napi_value *v, bool *present)
{
	*present = false;
	if (weft_arg_is_nullish(env, obj))
		return true;
	if (type_of(env, obj) != napi_object) {
		weft_throw_inval(env, "options must be an object");
		return false;
	}
	if (napi_get_named_property(env, obj, key, v) != napi_ok)
		return false;
	*present = !weft_arg_is_nullish(env, *v);
	return true;
}

bool weft_opt_int(napi_env env, napi_value obj, const char *key, int64_t min, int64_t max,
		  bool *present, int64_t *out)
{
	napi_value v;
	if (!get_prop(env, obj, key, &v, present))
		return false;
	return !*present || weft_arg_int(env, v, key, min, max, out);
}

bool weft_opt_bool(napi_env env, napi_value obj, const char *key, bool *present, bool *out)
{
	napi_value v;
	if (!get_prop(env, obj, key, &v, present))
		return false;
	if (!*present)
		return true;
	if (type_of(env, v) != napi_boolean) {
		weft_throw_inval(env, "%s must be a boolean", key);
		return false;
	}
	return napi_get_value_bool(env, v, out) == napi_ok;
}

bool weft_opt_string(napi_env env, napi_value obj, const char *key, char *buf, size_t cap,
		     bool *present)
{
	napi_value v;
	if (!get_prop(env, obj, key, &v, present))
		return false;
	return !*present || weft_arg_string(env, v, key, buf, cap);
}

bool weft_opt_buffer(napi_env env, napi_value obj, const char *key, void **data, size_t *len,
		     bool *present)
{
	napi_value v;
	if (!get_prop(env, obj, key, &v, present))
		return false;
	return !*present || weft_arg_buffer(env, v, key, data, len);
}

/* ---- filesystems and fds ---- */

int weft_fs_is(const char *path, long magic)
{
	struct statfs st;
	if (statfs(path, &st) != 0)
		return -errno;
	return (long)st.f_type == magic;
}

bool weft_fd_is_anon(int fd, const char *kind)
{
	char link[64], target[128];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	/* The kernel names link inodes "bpf_link" when created and "bpf-link" when re-opened from a
	 * pin: compare with '_' and '-' treated alike. */
	for (char *c = target; *c; c++)
		if (*c == '_')
			*c = '-';
	char want[32];
	snprintf(want, sizeof want, "%s", kind);
	for (char *c = want; *c; c++)
		if (*c == '_')
			*c = '-';
	return strstr(target, want) != NULL;
}
