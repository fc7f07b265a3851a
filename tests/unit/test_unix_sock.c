/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Local socket access: root passes; another user passes only when the
 * configured group is its primary or one of its supplementary groups. The
 * peer is a child that drops to uid/gid 65534 ("nobody") before connecting,
 * so these run only as root (else skipped, saying so).
 */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "unix_sock.h"

#define NOBODY 65534

static char dir[48], path[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-sock-XXXXXX");
	if (mkdtemp(dir) == NULL || chmod(dir, 0755) < 0) /* only run/ fences */
		return -1;
	snprintf(path, sizeof(path), "%s/run/test.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	char sub[96];

	(void)state;
	unlink(path);
	snprintf(sub, sizeof(sub), "%s/run", dir);
	rmdir(sub);
	rmdir(dir);
	return 0;
}

/* Connects to <path> as uid/gid <id> with supplementary group <extra> (or none), then waits. */
static pid_t connect_as(uid_t id, gid_t extra)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd;

		if (setgroups(extra == UNIX_SOCK_NO_GROUP ? 0 : 1, &extra) < 0 || setgid(id) < 0 ||
		    setuid(id) < 0)
			_exit(10);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		/* The directory is 0750 root:<group>: nobody outside the group gets in. */
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(errno == EACCES ? 11 : 12);
		sleep(2);
		_exit(0);
	}
	return pid;
}

/* Whether the listener lets the peer in (or -11 when the file modes kept it out). */
static int peer_result(int lfd, pid_t pid, gid_t gid)
{
	int status, fd = -1, ok;

	for (int i = 0; i < 200 && fd < 0; i++) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				return -WEXITSTATUS(status);
			usleep(10000);
		}
	}
	assert_true(fd >= 0);
	ok = unix_sock_peer_allowed(fd, gid);
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return ok;
}

/* Root or not, as the peer's credentials say: the API keeps slots for root. */
static void test_peer_is_root(void **state)
{
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(unix_sock_peer_is_root(sv[0]), geteuid() == 0);
	close(sv[0]);
	close(sv[1]);
	assert_false(unix_sock_peer_is_root(-1));
}

static void test_group_lookup(void **state)
{
	char err[128] = "";
	gid_t gid = 1;

	(void)state;
	assert_int_equal(unix_sock_group("", &gid, err, sizeof(err)), 0);
	assert_int_equal(gid, UNIX_SOCK_NO_GROUP);
	assert_int_equal(unix_sock_group("root", &gid, err, sizeof(err)), 0);
	assert_int_equal(gid, 0);
	assert_int_equal(unix_sock_group("no-such-group-sluice", &gid, err, sizeof(err)), -1);
	assert_string_equal(err, "no group named \"no-such-group-sluice\"");
}

static void test_path_too_long(void **state)
{
	char err[256] = "", p[200];

	(void)state;
	memset(p, 'a', sizeof(p) - 1);
	p[0] = '/';
	p[sizeof(p) - 1] = '\0';
	assert_int_equal(unix_sock_listen(p, UNIX_SOCK_NO_GROUP, 4, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "socket path too long"));
}

static void test_root_only(void **state)
{
	char err[256];
	struct stat st;
	int lfd;

	(void)state;
	if (geteuid() != 0)
		skip();
	lfd = unix_sock_listen(path, UNIX_SOCK_NO_GROUP, 4, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(peer_result(lfd, connect_as(0, UNIX_SOCK_NO_GROUP), UNIX_SOCK_NO_GROUP),
			 1);
	/* nobody: kept out by the directory's mode, and refused by credentials anyway. */
	assert_int_equal(
		peer_result(lfd, connect_as(NOBODY, UNIX_SOCK_NO_GROUP), UNIX_SOCK_NO_GROUP), -11);
	close(lfd);
}

static void test_group(void **state)
{
	const gid_t group = 4242; /* no name needed: gids are what the kernel compares */
	char err[256];
	struct stat st;
	int lfd;

	(void)state;
	if (geteuid() != 0)
		skip();
	lfd = unix_sock_listen(path, group, 4, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_gid, group);
	/* A member through a supplementary group. */
	assert_int_equal(peer_result(lfd, connect_as(NOBODY, group), group), 1);
	/* Not a member: the directory keeps it out. */
	assert_int_equal(peer_result(lfd, connect_as(NOBODY, UNIX_SOCK_NO_GROUP), group), -11);
	close(lfd);
	/* The credential check on its own (were the modes loosened): primary gid only. */
	lfd = unix_sock_listen(path, group, 4, err, sizeof(err));
	assert_true(lfd >= 0);
	char sub[96];
	snprintf(sub, sizeof(sub), "%s/run", dir);
	chmod(sub, 0755);
	chmod(path, 0666);
	assert_int_equal(peer_result(lfd, connect_as(NOBODY, UNIX_SOCK_NO_GROUP), group), 0);
	assert_int_equal(peer_result(lfd, connect_as(NOBODY, UNIX_SOCK_NO_GROUP), (gid_t)NOBODY),
			 1);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_is_root),
		cmocka_unit_test(test_group_lookup),
		cmocka_unit_test(test_path_too_long),
		cmocka_unit_test_setup_teardown(test_root_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
