/*
 * The install test's program (tests/install/test_install.sh builds it against an installed
 * vmux, shared and static, with pkg-config and with CMake): it uses only <vmux/vmux.h>.
 *
 *   consumer CONFIG NAME
 *
 * Checks that the library it runs with is the version its headers say, then over one handle
 * opened with CONFIG: PING, SET of a key named after NAME (which the script makes unique, so
 * that runs in parallel do not meet), GET, which must return what was set, and DEL. Prints "NAME:
 * ok" and exits 0, or says which step failed and exits 1.
 */
#include <stdio.h>
#include <string.h>

#include <vmux/vmux.h>

static int fail(const char *name, const char *step, int rc)
{
    fprintf(stderr, "%s: %s failed: %s (%s)\n", name, step, vmux_strerror(rc), vmux_err_name(rc));
    return 1;
}

static int round_trip(vmux *m, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "vmux:install-test:%s", name);
    vmux_bytes pong = {0};
    int rc = vmux_ping(m, NULL, VMUX_STRN(NULL, 0), &pong);
    if (rc != 0)
        return fail(name, "PING", rc);
    int bad = pong.ptr == NULL || strcmp(pong.ptr, "PONG") != 0;
    vmux_bytes_free(&pong);
    if (bad) {
        fprintf(stderr, "%s: PING did not answer PONG\n", name);
        return 1;
    }
    rc = vmux_set(m, NULL, VMUX_STR(key), VMUX_STR(name), VMUX_EXPIRE_IN_SECONDS(60),
                  VMUX_COND_ALWAYS, NULL);
    if (rc != 0)
        return fail(name, "SET", rc);
    vmux_bytes got = {0};
    rc = vmux_get(m, NULL, VMUX_STR(key), &got);
    if (rc != 0)
        return fail(name, "GET", rc);
    bad = got.ptr == NULL || strcmp(got.ptr, name) != 0;
    vmux_bytes_free(&got);
    if (bad) {
        fprintf(stderr, "%s: GET did not return what SET stored\n", name);
        return 1;
    }
    vmux_str keys[] = {VMUX_STR(key)};
    rc = vmux_del(m, NULL, keys, 1, NULL);
    return rc == 0 ? 0 : fail(name, "DEL", rc);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG NAME\n", argv[0]);
        return 2;
    }
    const char *name = argv[2];
    if (strcmp(vmux_version(), VMUX_VERSION_STRING) != 0) {
        fprintf(stderr, "%s: the library is %s, the headers %s\n", name, vmux_version(),
                VMUX_VERSION_STRING);
        return 1;
    }
    char err[256] = "";
    vmux *m = NULL;
    int rc = vmux_open_str(argv[1], &m, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot open \"%s\": %s (%s)\n", name, argv[1], vmux_strerror(rc), err);
        return 1;
    }
    rc = round_trip(m, name);
    vmux_close(m);
    if (rc == 0)
        printf("%s: ok\n", name);
    return rc;
}
