/* SPDX-License-Identifier: Apache-2.0 */
#include "weft_native.h"

static napi_value version(napi_env env, napi_callback_info info)
{
	(void)info;
	napi_value r;
	napi_create_object(env, &r);
	weft_set(env, r, "libbpf", weft_str(env, libbpf_version_string()));
	weft_set(env, r, "napi", weft_u32(env, NAPI_VERSION));
	return r;
}

NAPI_MODULE_INIT()
{
	weft_log_install();
	WEFT_EXPORT(env, exports, "version", version);
	weft_init_object(env, exports);
	weft_init_map(env, exports);
	weft_init_link(env, exports);
	weft_init_netns(env, exports);
	return exports;
}
