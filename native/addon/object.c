/* SPDX-License-Identifier: Apache-2.0 */
/* bpf_object handles: open, .rodata config, load, programs and maps by name, BPF_PROG_TEST_RUN. */
#define _GNU_SOURCE
#include "weft_native.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

static const napi_type_tag OBJECT_TAG = { 0x7765667430626a31ULL, 0x8d3c2a9f11e04b67ULL };

static void object_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	struct weft_object *o = data;
	if (o->obj)
		bpf_object__close(o->obj);
	free(o);
}

struct weft_object *weft_object_arg(napi_env env, napi_value v, bool need_loaded)
{
	napi_valuetype t = napi_undefined;
	napi_typeof(env, v, &t);
	bool tagged = false;
	if (t == napi_external)
		napi_check_object_type_tag(env, v, &OBJECT_TAG, &tagged);
	if (!tagged) {
		weft_throw_inval(env, "expected a bpf object handle");
		return NULL;
	}
	struct weft_object *o = NULL;
	napi_get_value_external(env, v, (void **)&o);
	if (!o || !o->obj) {
		weft_throw(env, "EBADF", EBADF, "bpf_object", NULL, "the bpf object is closed");
		return NULL;
	}
	if (need_loaded && !o->loaded) {
		weft_throw(env, "EINVAL", EINVAL, "bpf_object", NULL,
			   "the bpf object %s is not loaded yet", bpf_object__name(o->obj));
		return NULL;
	}
	return o;
}

struct bpf_program *weft_program_arg(napi_env env, struct weft_object *o, napi_value name_v,
				     char *name_buf, size_t cap)
{
	if (!weft_arg_string(env, name_v, "program name", name_buf, cap))
		return NULL;
	struct bpf_program *p = bpf_object__find_program_by_name(o->obj, name_buf);
	if (!p) {
		weft_throw(env, "ENOENT", ENOENT, "bpf_object__find_program_by_name", NULL,
			   "bpf object %s has no program named '%s'", bpf_object__name(o->obj), name_buf);
		return NULL;
	}
	if (bpf_program__fd(p) < 0) {
		weft_throw(env, "EINVAL", EINVAL, "bpf_program__fd", NULL,
			   "program '%s' is not loaded", name_buf);
		return NULL;
	}
	return p;
}

/* objectOpen(path: string, pinRoot: string | null) -> handle */
static napi_value object_open(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	char path[PATH_MAX], pin_root[PATH_MAX];
	if (!weft_arg_string(env, argv[0], "object path", path, sizeof path))
		return NULL;
	bool has_pin_root = !weft_arg_is_nullish(env, argv[1]);
	if (has_pin_root) {
		if (!weft_arg_string(env, argv[1], "pin root", pin_root, sizeof pin_root))
			return NULL;
		int r = weft_fs_is(pin_root, BPF_FS_MAGIC);
		if (r < 0)
			return weft_throw(env, NULL, -r, "statfs", pin_root,
					  "cannot use pin root %s: %s", pin_root, strerror(-r));
		if (r == 0)
			return weft_throw(env, "ENOTBPFFS", EPERM, "statfs", pin_root,
					  "pin root %s is not on a bpffs mount", pin_root);
	}
	weft_log_reset();
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = has_pin_root ? pin_root : NULL);
	struct bpf_object *obj = bpf_object__open_file(path, &opts);
	if (!obj) {
		int err = errno;
		return weft_throw(env, NULL, err, "bpf_object__open_file", path,
				  "cannot open bpf object %s: %s", path, strerror(err));
	}
	struct weft_object *o = calloc(1, sizeof *o);
	if (!o) {
		bpf_object__close(obj);
		return weft_throw(env, "ENOMEM", ENOMEM, "calloc", NULL, "out of memory");
	}
	o->obj = obj;
	napi_value handle;
	if (napi_create_external(env, o, object_finalize, NULL, &handle) != napi_ok) {
		object_finalize(env, o, NULL);
		return NULL;
	}
	napi_type_tag_object(env, handle, &OBJECT_TAG);
	return handle;
}

/* The .rodata DATASEC of the object's BTF, or NULL. */
static const struct btf_type *rodata_sec(struct bpf_object *obj, const struct btf **btf_out)
{
	const struct btf *btf = bpf_object__btf(obj);
	if (!btf)
		return NULL;
	int id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return NULL;
	*btf_out = btf;
	return btf__type_by_id(btf, id);
}

/* objectRodataVars(h) -> [{ name, offset, size }] */
static napi_value object_rodata_vars(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	struct weft_object *o = weft_object_arg(env, argv[0], false);
	if (!o)
		return NULL;
	napi_value arr;
	napi_create_array(env, &arr);
	const struct btf *btf = NULL;
	const struct btf_type *sec = rodata_sec(o->obj, &btf);
	if (!sec)
		return arr;
	const struct btf_var_secinfo *vsi = btf_var_secinfos(sec);
	for (unsigned i = 0; i < btf_vlen(sec); i++) {
		const struct btf_type *var = btf__type_by_id(btf, vsi[i].type);
		napi_value item;
		napi_create_object(env, &item);
		weft_set(env, item, "name", weft_str(env, btf__name_by_offset(btf, var->name_off)));
		weft_set(env, item, "offset", weft_u32(env, vsi[i].offset));
		weft_set(env, item, "size", weft_u32(env, vsi[i].size));
		napi_set_element(env, arr, i, item);
	}
	return arr;
}

/* objectSetRodata(h, name, bytes): before load, overwrite one const volatile variable. */
static napi_value object_set_rodata(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 3);
	struct weft_object *o = weft_object_arg(env, argv[0], false);
	if (!o)
		return NULL;
	char name[128];
	void *bytes;
	size_t len;
	if (!weft_arg_string(env, argv[1], "variable name", name, sizeof name) ||
	    !weft_arg_buffer(env, argv[2], "value", &bytes, &len))
		return NULL;
	if (o->loaded)
		return weft_throw(env, "EBUSY", EBUSY, "bpf_map__initial_value", NULL,
				  "cannot set .rodata '%s': the object is already loaded", name);
	const struct btf *btf = NULL;
	const struct btf_type *sec = rodata_sec(o->obj, &btf);
	struct bpf_map *map = bpf_object__find_map_by_name(o->obj, ".rodata");
	if (!sec || !map)
		return weft_throw(env, "ENOENT", ENOENT, "btf__find_by_name_kind", NULL,
				  "bpf object %s has no .rodata section", bpf_object__name(o->obj));
	const struct btf_var_secinfo *vsi = btf_var_secinfos(sec);
	for (unsigned i = 0; i < btf_vlen(sec); i++) {
		const struct btf_type *var = btf__type_by_id(btf, vsi[i].type);
		if (strcmp(btf__name_by_offset(btf, var->name_off), name) != 0)
			continue;
		if (vsi[i].size != len)
			return weft_throw_inval(env, ".rodata '%s' is %u bytes, got %zu", name,
						vsi[i].size, len);
		/* libbpf 1.1 hands out the initial value read-only: copy, patch, set it back. */
		size_t size = 0;
		const char *cur = bpf_map__initial_value(map, &size);
		if (!cur || vsi[i].offset + len > size)
			return weft_throw(env, "EINVAL", EINVAL, "bpf_map__initial_value", NULL,
					  ".rodata of %s is not writable", bpf_object__name(o->obj));
		char *data = malloc(size);
		if (!data)
			return weft_throw(env, "ENOMEM", ENOMEM, "malloc", NULL, "out of memory");
		memcpy(data, cur, size);
		memcpy(data + vsi[i].offset, bytes, len);
		int err = bpf_map__set_initial_value(map, data, size);
		free(data);
		if (err)
			return weft_throw(env, NULL, -err, "bpf_map__set_initial_value", NULL,
					  "cannot set .rodata '%s': %s", name, strerror(-err));
		return NULL;
	}
	return weft_throw(env, "ENOENT", ENOENT, "btf", NULL, "bpf object %s has no .rodata variable '%s'",
			  bpf_object__name(o->obj), name);
}

/* objectLoad(h): create/reuse (pinned) maps, verify and load programs. */
static napi_value object_load(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	struct weft_object *o = weft_object_arg(env, argv[0], false);
	if (!o)
		return NULL;
	if (o->loaded)
		return weft_throw(env, "EBUSY", EBUSY, "bpf_object__load", NULL,
				  "bpf object %s is already loaded", bpf_object__name(o->obj));
	weft_log_reset();
	int err = bpf_object__load(o->obj);
	if (err) {
		err = -err;
		return weft_throw(env, NULL, err, "bpf_object__load", NULL,
				  "cannot load bpf object %s: %s", bpf_object__name(o->obj), strerror(err));
	}
	o->loaded = true;
	return NULL;
}

static napi_value object_close(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	struct weft_object *o = weft_object_arg(env, argv[0], false);
	if (!o)
		return NULL;
	bpf_object__close(o->obj);
	o->obj = NULL;
	return NULL;
}

/* objectPrograms(h) -> [{ name, section, type, attachType, fd }] (fd -1 before load) */
static napi_value object_programs(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	struct weft_object *o = weft_object_arg(env, argv[0], false);
	if (!o)
		return NULL;
	napi_value arr;
	napi_create_array(env, &arr);
	uint32_t i = 0;
	struct bpf_program *p;
	bpf_object__for_each_program(p, o->obj) {
		napi_value item;
		napi_create_object(env, &item);
		weft_set(env, item, "name", weft_str(env, bpf_program__name(p)));
		weft_set(env, item, "section", weft_str(env, bpf_program__section_name(p)));
		weft_set(env, item, "type", weft_str(env, libbpf_bpf_prog_type_str(bpf_program__type(p))));
		weft_set(env, item, "attachType",
			 weft_str(env, libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(p))));
		weft_set(env, item, "fd", weft_i64(env, bpf_program__fd(p)));
		napi_set_element(env, arr, i++, item);
	}
	return arr;
}

/* objectMaps(h) -> [{ name, type, keySize, valueSize, maxEntries }] */
static napi_value object_maps(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 1);
	struct weft_object *o = weft_object_arg(env, argv[0], false);
	if (!o)
		return NULL;
	napi_value arr;
	napi_create_array(env, &arr);
	uint32_t i = 0;
	struct bpf_map *m;
	bpf_object__for_each_map(m, o->obj) {
		napi_value item;
		napi_create_object(env, &item);
		weft_set(env, item, "name", weft_str(env, bpf_map__name(m)));
		weft_set(env, item, "type", weft_str(env, libbpf_bpf_map_type_str(bpf_map__type(m))));
		weft_set(env, item, "keySize", weft_u32(env, bpf_map__key_size(m)));
		weft_set(env, item, "valueSize", weft_u32(env, bpf_map__value_size(m)));
		weft_set(env, item, "maxEntries", weft_u32(env, bpf_map__max_entries(m)));
		napi_set_element(env, arr, i++, item);
	}
	return arr;
}

/* objectMap(h, name) -> map handle owning a dup of the object's map fd */
static napi_value object_map(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	struct weft_object *o = weft_object_arg(env, argv[0], true);
	if (!o)
		return NULL;
	char name[128];
	if (!weft_arg_string(env, argv[1], "map name", name, sizeof name))
		return NULL;
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, name);
	if (!m)
		return weft_throw(env, "ENOENT", ENOENT, "bpf_object__find_map_by_name", NULL,
				  "bpf object %s has no map named '%s'", bpf_object__name(o->obj), name);
	int fd = fcntl(bpf_map__fd(m), F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "fcntl(F_DUPFD_CLOEXEC)", NULL,
				  "cannot duplicate the fd of map '%s': %s", name, strerror(err));
	}
	return weft_map_wrap(env, fd, NULL);
}

/* objectProgFd(h, name) -> fd owned by the object (valid until objectClose) */
static napi_value object_prog_fd(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 2);
	struct weft_object *o = weft_object_arg(env, argv[0], true);
	if (!o)
		return NULL;
	char name[128];
	struct bpf_program *p = weft_program_arg(env, o, argv[1], name, sizeof name);
	return p ? weft_i64(env, bpf_program__fd(p)) : NULL;
}

/*
 * progTestRun(h, name, { ctxIn?, dataIn?, ctxOutSize?, dataOutSize?, repeat? })
 *   -> { retval, durationNs, ctxOut?, dataOut? }
 * Only program types with a kernel test_run (sk_lookup, skb, xdp, ...) support this.
 */
static napi_value prog_test_run(napi_env env, napi_callback_info info)
{
	WEFT_ARGS(env, info, 3);
	struct weft_object *o = weft_object_arg(env, argv[0], true);
	if (!o)
		return NULL;
	char name[128];
	struct bpf_program *p = weft_program_arg(env, o, argv[1], name, sizeof name);
	if (!p)
		return NULL;
	void *ctx_in = NULL, *data_in = NULL;
	size_t ctx_in_len = 0, data_in_len = 0;
	bool has_ctx, has_data, has_ctx_out, has_data_out, has_repeat;
	int64_t ctx_out_size = 0, data_out_size = 0, repeat = 1;
	if (!weft_opt_buffer(env, argv[2], "ctxIn", &ctx_in, &ctx_in_len, &has_ctx) ||
	    !weft_opt_buffer(env, argv[2], "dataIn", &data_in, &data_in_len, &has_data) ||
	    !weft_opt_int(env, argv[2], "ctxOutSize", 0, 1 << 16, &has_ctx_out, &ctx_out_size) ||
	    !weft_opt_int(env, argv[2], "dataOutSize", 0, 1 << 20, &has_data_out, &data_out_size) ||
	    !weft_opt_int(env, argv[2], "repeat", 1, 1000000, &has_repeat, &repeat))
		return NULL;
	napi_value ctx_out_v = NULL, data_out_v = NULL;
	void *ctx_out = NULL, *data_out = NULL;
	if (ctx_out_size > 0 && napi_create_buffer(env, ctx_out_size, &ctx_out, &ctx_out_v) != napi_ok)
		return NULL;
	if (data_out_size > 0 && napi_create_buffer(env, data_out_size, &data_out, &data_out_v) != napi_ok)
		return NULL;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx_in, .ctx_size_in = (uint32_t)ctx_in_len,
		    .data_in = data_in, .data_size_in = (uint32_t)data_in_len, .ctx_out = ctx_out,
		    .ctx_size_out = (uint32_t)ctx_out_size, .data_out = data_out,
		    .data_size_out = (uint32_t)data_out_size, .repeat = (int)repeat);
	weft_log_reset();
	if (bpf_prog_test_run_opts(bpf_program__fd(p), &opts) != 0) {
		int err = errno;
		return weft_throw(env, NULL, err, "bpf(BPF_PROG_TEST_RUN)", NULL,
				  "test run of program '%s' (%s) failed: %s", name,
				  libbpf_bpf_prog_type_str(bpf_program__type(p)), strerror(err));
	}
	napi_value r;
	napi_create_object(env, &r);
	weft_set(env, r, "retval", weft_u32(env, opts.retval));
	weft_set(env, r, "durationNs", weft_u32(env, opts.duration));
	weft_set(env, r, "ctxOut", ctx_out_v);
	weft_set(env, r, "dataOut", data_out_v);
	if (data_out_v)
		weft_set(env, r, "dataOutSize", weft_u32(env, opts.data_size_out));
	return r;
}

void weft_init_object(napi_env env, napi_value exports)
{
	WEFT_EXPORT(env, exports, "objectOpen", object_open);
	WEFT_EXPORT(env, exports, "objectRodataVars", object_rodata_vars);
	WEFT_EXPORT(env, exports, "objectSetRodata", object_set_rodata);
	WEFT_EXPORT(env, exports, "objectLoad", object_load);
	WEFT_EXPORT(env, exports, "objectClose", object_close);
	WEFT_EXPORT(env, exports, "objectPrograms", object_programs);
	WEFT_EXPORT(env, exports, "objectMaps", object_maps);
	WEFT_EXPORT(env, exports, "objectMap", object_map);
	WEFT_EXPORT(env, exports, "objectProgFd", object_prog_fd);
	WEFT_EXPORT(env, exports, "progTestRun", prog_test_run);
}
