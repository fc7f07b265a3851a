/* SPDX-License-Identifier: BSD-3-Clause */
#include "state_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sl_types.h"
#include "log.h"

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

void state_file_entry(json_object *o, const char **vip, const char **addr, int *port,
		      const char **health)
{
	json_object *f;

	*vip = *addr = *health = "";
	*port = -1;
	if (json_object_object_get_ex(o, "vip", &f))
		*vip = json_object_get_string(f);
	if (json_object_object_get_ex(o, "address", &f))
		*addr = json_object_get_string(f);
	if (json_object_object_get_ex(o, "port", &f))
		*port = json_object_get_int(f);
	if (json_object_object_get_ex(o, "health", &f))
		*health = json_object_get_string(f);
}

bool state_file_save(const char *path, const struct ctrl_set *s)
{
	json_object *root = json_object_new_object(), *forced = json_object_new_array();
	char tmp[CONF_PATH_MAX + 16], ip[64];
	bool ok;

	for (size_t i = 0; i < s->n; i++) {
		const struct ctrl_backend *b = &s->b[i];
		json_object *o;

		if (b->check.forced < 0)
			continue;
		o = json_object_new_object();
		add_str(o, "vip", b->id.vip);
		add_str(o, "address", sl_addr_format(&b->id.addr, ip, sizeof(ip)));
		json_object_object_add(o, "port", json_object_new_int(b->id.port));
		add_str(o, "health", sl_health_name(sl_health_of(b->check.forced)));
		json_object_array_add(forced, o);
	}
	json_object_object_add(root, "forced", forced);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	ok = json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) == 0 &&
	     rename(tmp, path) == 0;
	if (!ok) {
		log_line("cannot save the operator's forced health to %s: %s (held until the "
			 "daemon stops)",
			 path, strerror(errno));
		unlink(tmp);
	}
	json_object_put(root);
	return ok;
}

void state_file_load(const char *path, struct ctrl_set *s, const char *conf_path,
		     void (*taken)(struct ctrl_backend *b))
{
	json_object *root, *forced;
	size_t kept = 0, n;

	if (access(path, F_OK) != 0)
		return;
	root = json_object_from_file(path);
	if (root == NULL || !json_object_object_get_ex(root, "forced", &forced) ||
	    !json_object_is_type(forced, json_type_array)) {
		log_line("%s is not a state file of this daemon: ignored, and replaced at the next "
			 "forced change",
			 path);
		json_object_put(root);
		return;
	}
	n = json_object_array_length(forced);
	for (size_t i = 0; i < n; i++) {
		const char *vip, *addr, *h;
		struct ctrl_backend *b = NULL;
		struct sl_addr a;
		int port;

		state_file_entry(json_object_array_get_idx(forced, i), &vip, &addr, &port, &h);
		if (sl_addr_parse(&a, addr) == 0 && port >= 0 && port <= 65535)
			b = ctrl_set_lookup(s, vip, &a, (uint16_t)port);
		if (b == NULL || sl_health_parse(h) < 0) {
			log_line("%s: forced health of %s %s port %d (%s) dropped: no such backend "
				 "in "
				 "%s",
				 path, vip, addr, port, h, conf_path);
			continue;
		}
		b->check.forced = sl_health_parse(h) == SL_HEALTH_UP;
		log_line("%s %s: health forced %s by the operator (kept in %s)", b->id.vip, addr, h,
			 path);
		/* Told now: the pass over the checks skips backends without one. */
		taken(b);
		kept++;
	}
	json_object_put(root);
	if (kept < n)
		state_file_save(path, s); /* what was dropped is gone for good */
}
