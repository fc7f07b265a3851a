/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Loader and map management for the XDP steering program (contract in
 * steer.h). Every map is reached through the skeleton (skel->maps.x), never
 * looked up by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/magic.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer.h"
#include "steer.skel.h"

#define RIGHTS_MSG "loading the XDP steering program needs root or CAP_BPF+CAP_NET_ADMIN"

struct steer {
	struct steer_bpf *skel;
	int ncpus;
	struct sluice_stat *percpu; /* ncpus entries: one counter as the kernel returns it */
};

static const char *const stat_names[SLUICE_STAT_MAX] = {
	[SLUICE_STAT_REDIRECT_VIP] = "redirect_vip",
	[SLUICE_STAT_REDIRECT_LOCAL] = "redirect_local",
	[SLUICE_STAT_REDIRECT_ICMP] = "redirect_icmp",
	[SLUICE_STAT_REDIRECT_FRAG] = "redirect_frag",
	[SLUICE_STAT_REDIRECT_ARP] = "redirect_arp",
	[SLUICE_STAT_REDIRECT_ND] = "redirect_nd",
	[SLUICE_STAT_PASS] = "pass",
	[SLUICE_STAT_PASS_MALFORMED] = "pass_malformed",
	[SLUICE_STAT_PASS_UNPARSED] = "pass_unparsed",
	[SLUICE_STAT_NO_XSK] = "no_xsk",
};

const char *steer_stat_name(unsigned int stat)
{
	return stat < SLUICE_STAT_MAX && stat_names[stat] ? stat_names[stat] : "?";
}

bool steer_err_is_perm(int err)
{
	return err == -EPERM || err == -EACCES;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* 1 if <path> is on a BPF file system, 0 if not, -errno if statfs fails. */
static int on_bpffs(const char *path)
{
	struct statfs fs;

	if (statfs(path, &fs) < 0)
		return -errno;
	return fs.f_type == BPF_FS_MAGIC;
}

/* Mounts bpffs on the default pin root unless one is mounted there already. */
static int mount_default_root(char *err, size_t errlen)
{
	int ret = on_bpffs(SLUICE_BPF_PIN_ROOT);

	if (ret == 1)
		return 0;
	if (ret < 0) {
		set_err(err, errlen, "%s: %s", SLUICE_BPF_PIN_ROOT, strerror(-ret));
		return ret;
	}
	if (mount("bpf", SLUICE_BPF_PIN_ROOT, "bpf", 0, "mode=0700") < 0) {
		ret = -errno;
		set_err(err, errlen, "%s: mounting bpffs on %s: %s", RIGHTS_MSG,
			SLUICE_BPF_PIN_ROOT, strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * Makes <root> a usable pin directory: mounts bpffs on SLUICE_BPF_PIN_ROOT
 * when <root> is it or lies below it and nothing is mounted there; creates
 * <root> if missing (one level: its parent must be on bpffs) and then sets
 * *<created> so a failed open can remove it again.
 */
static int prepare_pin_root(const char *root, bool *created, char *err, size_t errlen)
{
	size_t n = strlen(SLUICE_BPF_PIN_ROOT);
	int ret;

	if (strncmp(root, SLUICE_BPF_PIN_ROOT, n) == 0 && (root[n] == '\0' || root[n] == '/')) {
		ret = mount_default_root(err, errlen);
		if (ret < 0)
			return ret;
	}
	ret = on_bpffs(root);
	if (ret == -ENOENT) {
		if (mkdir(root, 0700) < 0) {
			ret = -errno;
			set_err(err, errlen, "%s: creating pin directory %s: %s",
				steer_err_is_perm(ret) ? RIGHTS_MSG : "pins", root, strerror(-ret));
			return ret;
		}
		*created = true;
		ret = on_bpffs(root);
	}
	if (ret < 0) {
		/* systemd mounts /sys/fs/bpf with mode 0700: others cannot even look. */
		set_err(err, errlen, "%s: pin directory %s: %s",
			steer_err_is_perm(ret) ? RIGHTS_MSG : "pins", root, strerror(-ret));
		return ret;
	}
	if (ret == 0) {
		set_err(err, errlen,
			"pin directory %s is not on a BPF file system (mount -t bpf bpf %s)", root,
			root);
		return -EINVAL;
	}
	return 0;
}

/*
 * A pin left by another build (other key, value or size) would make libbpf
 * refuse to load: remove it so load creates a fresh map. Pins that match are
 * left for libbpf to reuse.
 */
static int drop_stale_pin(struct bpf_map *map, char *err, size_t errlen)
{
	const char *path = bpf_map__pin_path(map);
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int fd, ret;

	if (!path)
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			return 0;
		set_err(err, errlen, "%s: opening pinned map %s: %s",
			steer_err_is_perm(ret) ? RIGHTS_MSG : "pins", path, strerror(-ret));
		return ret;
	}
	memset(&info, 0, sizeof(info));
	ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (ret < 0) {
		set_err(err, errlen, "pinned map %s: %s", path, strerror(-ret));
		return ret;
	}
	if (info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
	    info.value_size == bpf_map__value_size(map) &&
	    info.max_entries == bpf_map__max_entries(map) &&
	    info.map_flags == bpf_map__map_flags(map))
		return 0;
	if (unlink(path) < 0) {
		ret = -errno;
		set_err(err, errlen, "removing stale pinned map %s: %s", path, strerror(-ret));
		return ret;
	}
	return 0;
}

/* Deletes every key of a hash map. */
static int map_empty(struct bpf_map *map, void *key, size_t key_sz)
{
	int ret;

	while ((ret = bpf_map__get_next_key(map, NULL, key, key_sz)) == 0) {
		ret = bpf_map__delete_elem(map, key, key_sz, 0);
		if (ret < 0 && ret != -ENOENT)
			return ret;
	}
	return ret == -ENOENT ? 0 : ret;
}

int steer_clear(struct steer *s)
{
	struct sluice_vip_key vk;
	struct sluice_addr_key ak;
	int ret;

	/* VIPs first: the program looks them up only for owned addresses. */
	ret = map_empty(s->skel->maps.sluice_vips, &vk, sizeof(vk));
	if (ret == 0)
		ret = map_empty(s->skel->maps.sluice_addrs, &ak, sizeof(ak));
	return ret;
}

static int stats_zero(struct steer *s)
{
	size_t sz = sizeof(*s->percpu) * (size_t)s->ncpus;

	memset(s->percpu, 0, sz);
	for (__u32 i = 0; i < SLUICE_STAT_MAX; i++) {
		int ret = bpf_map__update_elem(s->skel->maps.sluice_stats, &i, sizeof(i), s->percpu,
					       sz, BPF_ANY);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int steer_open(struct steer **out, const struct steer_opts *opts, char *err, size_t errlen)
{
	const char *root = opts && opts->pin_root ? opts->pin_root : SLUICE_BPF_PIN_ROOT;
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct bpf_map *pinned[3];
	bool created = false;
	struct steer *s;
	int ret;

	*out = NULL;
	set_err(err, errlen, "no error");
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		ret = s->ncpus < 0 ? s->ncpus : -EINVAL;
		set_err(err, errlen, "counting possible CPUs: %s", strerror(-ret));
		goto fail;
	}
	s->percpu = calloc((size_t)s->ncpus, sizeof(*s->percpu));
	if (!s->percpu) {
		ret = -ENOMEM;
		set_err(err, errlen, "out of memory");
		goto fail;
	}

	ret = prepare_pin_root(root, &created, err, errlen);
	if (ret < 0)
		goto fail;

	oo.pin_root_path = root;
	s->skel = steer_bpf__open_opts(&oo);
	if (!s->skel) {
		ret = -errno;
		set_err(err, errlen, "opening the XDP steering object: %s", strerror(-ret));
		goto fail;
	}
	s->skel->rodata->sluice_no_xsk_action = opts && opts->drop_no_xsk ? XDP_DROP : XDP_PASS;

	pinned[0] = s->skel->maps.sluice_vips;
	pinned[1] = s->skel->maps.sluice_addrs;
	pinned[2] = s->skel->maps.sluice_stats;
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		ret = drop_stale_pin(pinned[i], err, errlen);
		if (ret < 0)
			goto fail;
	}

	ret = steer_bpf__load(s->skel);
	if (ret < 0) {
		if (steer_err_is_perm(ret))
			set_err(err, errlen, RIGHTS_MSG ": %s", strerror(-ret));
		else
			set_err(err, errlen, "loading the XDP steering program (pins in %s): %s",
				root, strerror(-ret));
		goto fail;
	}

	if (!(opts && opts->keep_state)) {
		ret = steer_clear(s);
		if (ret == 0)
			ret = stats_zero(s);
		if (ret < 0) {
			set_err(err, errlen, "emptying the pinned maps in %s: %s", root,
				strerror(-ret));
			goto fail;
		}
	}
	*out = s;
	return 0;

fail:
	steer_close(s);
	if (created)
		rmdir(root); /* fails, harmlessly, if something was pinned in it */
	return ret;
}

void steer_close(struct steer *s)
{
	if (!s)
		return;
	steer_bpf__destroy(s->skel);
	free(s->percpu);
	free(s);
}

int steer_unpin(struct steer *s)
{
	struct bpf_map *pinned[3] = {s->skel->maps.sluice_vips, s->skel->maps.sluice_addrs,
				     s->skel->maps.sluice_stats};
	int ret = 0;

	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		int r = bpf_map__unpin(pinned[i], NULL);

		if (r < 0 && r != -ENOENT && ret == 0)
			ret = r;
	}
	return ret;
}

static void addr_key(struct sluice_addr_key *k, const struct sl_addr *addr)
{
	memcpy(k->addr, addr->b, sizeof(k->addr));
}

/*
 * Read-modify-write of one owned address: sets <set> and clears <clear>
 * flags, adds <refs> to vip_refs; deletes the entry when no flag remains.
 */
static int addr_update(struct steer *s, const struct sl_addr *addr, uint32_t set, uint32_t clear,
		       int refs)
{
	struct bpf_map *map = s->skel->maps.sluice_addrs;
	struct sluice_addr_key k;
	struct sluice_addr_val v;
	int ret;

	addr_key(&k, addr);
	ret = bpf_map__lookup_elem(map, &k, sizeof(k), &v, sizeof(v), 0);
	if (ret == -ENOENT)
		memset(&v, 0, sizeof(v));
	else if (ret < 0)
		return ret;
	v.vip_refs = (uint32_t)((int64_t)v.vip_refs + refs);
	v.flags = (v.flags | set) & ~clear;
	if (v.vip_refs == 0)
		v.flags &= ~(uint32_t)SLUICE_ADDR_VIP;
	if (v.flags == 0) {
		ret = bpf_map__delete_elem(map, &k, sizeof(k), 0);
		return ret == -ENOENT ? 0 : ret;
	}
	return bpf_map__update_elem(map, &k, sizeof(k), &v, sizeof(v), BPF_ANY);
}

static int vip_key(struct sluice_vip_key *k, const struct sl_addr *addr, uint16_t port,
		   uint8_t proto)
{
	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || port == 0)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, addr->b, sizeof(k->addr));
	k->port = htons(port);
	k->proto = proto;
	return 0;
}

int steer_vip_add(struct steer *s, const struct sl_addr *addr, uint16_t port, uint8_t proto)
{
	struct bpf_map *map = s->skel->maps.sluice_vips;
	struct sluice_vip_val v = {0};
	struct sluice_vip_key k;
	int ret = vip_key(&k, addr, port, proto);

	if (ret < 0)
		return ret;
	ret = bpf_map__update_elem(map, &k, sizeof(k), &v, sizeof(v), BPF_NOEXIST);
	if (ret < 0)
		return ret;
	ret = addr_update(s, addr, SLUICE_ADDR_VIP, 0, 1);
	if (ret < 0)
		bpf_map__delete_elem(map, &k, sizeof(k), 0);
	return ret;
}

int steer_vip_del(struct steer *s, const struct sl_addr *addr, uint16_t port, uint8_t proto)
{
	struct sluice_vip_key k;
	int ret = vip_key(&k, addr, port, proto);

	if (ret < 0)
		return ret;
	ret = bpf_map__delete_elem(s->skel->maps.sluice_vips, &k, sizeof(k), 0);
	if (ret < 0)
		return ret;
	return addr_update(s, addr, 0, 0, -1);
}

static int addr_flag_check(struct steer *s, const struct sl_addr *addr, uint32_t flag,
			   bool *present)
{
	struct sluice_addr_key k;
	struct sluice_addr_val v;
	int ret;

	if (flag != SLUICE_ADDR_LOCAL && flag != SLUICE_ADDR_SELF)
		return -EINVAL;
	addr_key(&k, addr);
	ret = bpf_map__lookup_elem(s->skel->maps.sluice_addrs, &k, sizeof(k), &v, sizeof(v), 0);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	*present = ret == 0 && (v.flags & flag);
	return 0;
}

int steer_addr_add(struct steer *s, const struct sl_addr *addr, uint32_t flag)
{
	bool present;
	int ret = addr_flag_check(s, addr, flag, &present);

	if (ret < 0)
		return ret;
	if (present)
		return -EEXIST;
	return addr_update(s, addr, flag, 0, 0);
}

int steer_addr_del(struct steer *s, const struct sl_addr *addr, uint32_t flag)
{
	bool present;
	int ret = addr_flag_check(s, addr, flag, &present);

	if (ret < 0)
		return ret;
	if (!present)
		return -ENOENT;
	return addr_update(s, addr, 0, flag, 0);
}

/* Owned address with the flags and VIP count a desired state gives it. */
struct addr_ent {
	struct sluice_addr_key k;
	struct sluice_addr_val v;
};

static int cmp_vip_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sluice_vip_key));
}

static int cmp_addr_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sluice_addr_key));
}

/*
 * Deletes every key of <map> that is not among the <n> sorted keys at <want>
 * (each <stride> bytes, key first). Keys are collected before deleting: a
 * hash map's iteration order is undefined once it changes.
 */
static int map_prune(struct bpf_map *map, size_t key_sz, const void *want, size_t n, size_t stride,
		     int (*cmp)(const void *, const void *))
{
	size_t cap = bpf_map__max_entries(map), count = 0;
	uint8_t *keys = calloc(cap ? cap : 1, key_sz);
	const void *prev = NULL;
	int ret = 0;

	if (!keys)
		return -ENOMEM;
	while (count < cap) {
		ret = bpf_map__get_next_key(map, prev, keys + count * key_sz, key_sz);
		if (ret < 0)
			break;
		prev = keys + count * key_sz;
		count++;
	}
	if (ret < 0 && ret != -ENOENT) {
		free(keys);
		return ret;
	}
	ret = 0;
	for (size_t i = 0; i < count && ret == 0; i++) {
		const void *k = keys + i * key_sz;

		if (n && bsearch(k, want, n, stride, cmp))
			continue;
		ret = bpf_map__delete_elem(map, k, key_sz, 0);
		if (ret == -ENOENT)
			ret = 0;
	}
	free(keys);
	return ret;
}

/* The VIPs to steer into <wv>, sorted, duplicates dropped: how many, or -errno. */
static int desired_vips(const struct steer_vip *vips, size_t n_vips, struct sluice_vip_key *wv)
{
	size_t nv = 0;

	for (size_t i = 0; i < n_vips; i++) {
		int ret = vip_key(&wv[i], &vips[i].addr, vips[i].port, vips[i].proto);
		if (ret < 0)
			return ret;
	}
	qsort(wv, n_vips, sizeof(*wv), cmp_vip_key);
	for (size_t i = 0; i < n_vips; i++)
		if (nv == 0 || cmp_vip_key(&wv[nv - 1], &wv[i]) != 0)
			wv[nv++] = wv[i];
	return (int)nv;
}

/*
 * The addresses to steer into <wa>: one entry per VIP of <wv> and per
 * listed address, merged (flags or'ed, VIP references summed). How many,
 * or -EINVAL for an address that is neither local nor the host's.
 */
static int desired_addrs(const struct sluice_vip_key *wv, size_t nv, const struct steer_addr *addrs,
			 size_t n_addrs, struct addr_ent *wa)
{
	size_t na = 0, m = 0;

	for (size_t i = 0; i < nv; i++) {
		memcpy(wa[na].k.addr, wv[i].addr, sizeof(wa[na].k.addr));
		wa[na].v.flags = SLUICE_ADDR_VIP;
		wa[na++].v.vip_refs = 1;
	}
	for (size_t i = 0; i < n_addrs; i++) {
		if (addrs[i].flag != SLUICE_ADDR_LOCAL && addrs[i].flag != SLUICE_ADDR_SELF)
			return -EINVAL;
		addr_key(&wa[na].k, &addrs[i].addr);
		wa[na++].v.flags = addrs[i].flag;
	}
	qsort(wa, na, sizeof(*wa), cmp_addr_key);
	for (size_t i = 0; i < na; i++) {
		struct addr_ent *last = m ? &wa[m - 1] : NULL;

		if (last && cmp_addr_key(&last->k, &wa[i].k) == 0) {
			last->v.flags |= wa[i].v.flags;
			last->v.vip_refs += wa[i].v.vip_refs;
		} else {
			wa[m++] = wa[i];
		}
	}
	return (int)m;
}

int steer_sync(struct steer *s, const struct steer_vip *vips, size_t n_vips,
	       const struct steer_addr *addrs, size_t n_addrs)
{
	struct bpf_map *vmap = s->skel->maps.sluice_vips, *amap = s->skel->maps.sluice_addrs;
	struct sluice_vip_key *wv = calloc(n_vips ? n_vips : 1, sizeof(*wv));
	struct addr_ent *wa = calloc(n_vips + n_addrs ? n_vips + n_addrs : 1, sizeof(*wa));
	struct sluice_vip_val vv = {0};
	size_t nv = 0, na = 0, i;
	int ret = 0;

	if (!wv || !wa) {
		ret = -ENOMEM;
		goto out;
	}
	ret = desired_vips(vips, n_vips, wv);
	if (ret < 0)
		goto out;
	nv = (size_t)ret;
	ret = desired_addrs(wv, nv, addrs, n_addrs, wa);
	if (ret < 0)
		goto out;
	na = (size_t)ret;
	if (nv > bpf_map__max_entries(vmap) || na > bpf_map__max_entries(amap)) {
		ret = -E2BIG;
		goto out;
	}

	/* Addresses before VIPs on the way in, VIPs before addresses on the way out. */
	for (i = 0; i < na; i++) {
		struct sluice_addr_val cur;

		ret = bpf_map__lookup_elem(amap, &wa[i].k, sizeof(wa[i].k), &cur, sizeof(cur), 0);
		if (ret == 0 && memcmp(&cur, &wa[i].v, sizeof(cur)) == 0)
			continue;
		ret = bpf_map__update_elem(amap, &wa[i].k, sizeof(wa[i].k), &wa[i].v,
					   sizeof(wa[i].v), BPF_ANY);
		if (ret < 0)
			goto out;
	}
	for (i = 0; i < nv; i++) {
		struct sluice_vip_val cur;

		ret = bpf_map__lookup_elem(vmap, &wv[i], sizeof(wv[i]), &cur, sizeof(cur), 0);
		if (ret == 0 && memcmp(&cur, &vv, sizeof(cur)) == 0)
			continue;
		ret = bpf_map__update_elem(vmap, &wv[i], sizeof(wv[i]), &vv, sizeof(vv), BPF_ANY);
		if (ret < 0)
			goto out;
	}
	ret = map_prune(vmap, sizeof(*wv), wv, nv, sizeof(*wv), cmp_vip_key);
	if (ret == 0)
		ret = map_prune(amap, sizeof(wa->k), wa, na, sizeof(*wa), cmp_addr_key);
out:
	free(wv);
	free(wa);
	return ret;
}

int steer_stats_read(struct steer *s, struct steer_stats *st)
{
	size_t sz = sizeof(*s->percpu) * (size_t)s->ncpus;

	memset(st, 0, sizeof(*st));
	for (__u32 i = 0; i < SLUICE_STAT_MAX; i++) {
		int ret = bpf_map__lookup_elem(s->skel->maps.sluice_stats, &i, sizeof(i), s->percpu,
					       sz, 0);
		if (ret < 0)
			return ret;
		for (int c = 0; c < s->ncpus; c++) {
			st->packets[i] += s->percpu[c].packets;
			st->bytes[i] += s->percpu[c].bytes;
		}
	}
	return 0;
}

int steer_prog_fd(const struct steer *s)
{
	return bpf_program__fd(s->skel->progs.sluice_steer);
}

const void *steer_object_bytes(size_t *len)
{
	return steer_bpf__elf_bytes(len);
}

int steer_write_object(const char *path)
{
	char tmp[PATH_MAX];
	size_t len, done = 0;
	const char *bytes = steer_object_bytes(&len);
	int fd, ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, bytes + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}
