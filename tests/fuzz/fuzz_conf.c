/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the configuration loader (lib/conf): any bytes as
 * the YAML text of a configuration file, through conf_load_string(), the
 * path every checker and a reload take after reading the file.
 *
 * Checks, besides ASan/UBSan's and LeakSanitizer's (a refused file leaves
 * nothing allocated): a refusal is -errno with a message; an accepted file
 * holds no more than the limits conf.h names, and goes on into a model
 * (ports, then lb_model_load and lb_model_compile) as the data plane does
 * at start-up, which may refuse it (with a message) but must not misbehave.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "lb_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_conf: check failed: %s (line %d)\n", #cond,          \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Builds the data plane's model from an accepted configuration. */
static void load_model(const struct conf *c)
{
	struct lb_model *m = lb_model_create();
	struct lb_snapshot *s;
	char err[256] = "";
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};

	if (m == NULL)
		return;
	for (uint32_t i = 0; i < c->n_ports; i++) {
		mac[5] = (uint8_t)i;
		if (lb_model_port_add(m, &c->ports[i], mac, err, sizeof(err)) < 0) {
			CHECK(err[0] != '\0');
			goto out;
		}
	}
	if (lb_model_load(m, c, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		goto out;
	}
	s = lb_model_compile(m);
	lb_snapshot_free(s);
out:
	lb_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	char err[512];
	int rc;

	memset(&c, 0, sizeof(c));
	memset(err, 0, sizeof(err));
	rc = conf_load_string((const char *)data, size, "fuzz.yaml", &c, err, sizeof(err));
	if (rc != 0) {
		CHECK(rc < 0);
		CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		CHECK(c.n_ports == 0 && c.n_vips == 0);
		conf_free(&c);
		return 0;
	}
	CHECK(c.n_ports <= CONF_MAX_PORTS);
	CHECK(c.n_vips <= CONF_MAX_VIPS);
	for (uint32_t i = 0; i < c.n_vips; i++) {
		CHECK(c.vips[i].n_local_addrs <= CONF_MAX_LOCAL_ADDRS);
		CHECK(c.vips[i].port != 0);
		CHECK(memchr(c.vips[i].name, '\0', sizeof(c.vips[i].name)) != NULL);
	}
	load_model(&c);
	conf_free(&c);
	return 0;
}
