/*
 * libFuzzer target for the configuration parser. Beyond "no crash, no leak", it checks the
 * module's promises on every input that parses: to_string re-parses to an equal config (the
 * password only by presence, as it prints as "*****"), printing twice gives the same text, and
 * dup copies everything. Every input is also applied onto an existing config, which must be
 * left exactly as it was when the apply fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_internal.h"
#include "vmux/config.h"
#include "vmux/error.h"
#include "fuzz.h"

static char *print(const vmux_config *cfg)
{
    int n = vmux_config_to_string(cfg, NULL, 0);
    CHECK(n >= 0);
    char *s = malloc((size_t)n + 1);
    CHECK(s != NULL);
    CHECK(vmux_config_to_string(cfg, s, (size_t)n + 1) == n);
    return s;
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* to_string covers every field but the password, so equal text means equal configs. */
static bool same_config(const vmux_config *a, const vmux_config *b)
{
    char *sa = print(a), *sb = print(b);
    bool same = strcmp(sa, sb) == 0 && same_text(a->password, b->password);
    free(sa);
    free(sb);
    return same;
}

static void check_round_trip(const vmux_config *cfg)
{
    char *s = print(cfg);
    char err[256];
    vmux_config *again = NULL;
    if (vmux_config_parse(s, &again, err, sizeof err) != 0) {
        fprintf(stderr, "to_string output '%s' does not re-parse: %s\n", s, err);
        abort();
    }
    char *s2 = print(again);
    CHECK(strcmp(s, s2) == 0);
    CHECK(again->nendpoints == cfg->nendpoints);
    CHECK((again->password != NULL) == (cfg->password != NULL));
    CHECK(vmux_config_async_timeout(again) == vmux_config_async_timeout(cfg));
    free(s2);
    free(s);
    vmux_config_free(again);

    vmux_config *copy = vmux_config_dup(cfg);
    CHECK(copy != NULL && same_config(copy, cfg));
    vmux_config_free(copy);
}

static void check_apply(const char *text)
{
    vmux_config *cfg = NULL, *before = NULL;
    CHECK(vmux_config_parse("base:1,name=base,password=pw", &cfg, NULL, 0) == 0);
    before = vmux_config_dup(cfg);
    CHECK(before != NULL);
    char err[64];
    int rc = vmux_config_apply(cfg, text, err, sizeof err);
    CHECK(rc == 0 || rc == VMUX_ERR_CONFIG);
    if (rc != 0)
        CHECK(same_config(cfg, before));
    vmux_config_free(before);
    vmux_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    char err[128];
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(text, &cfg, err, sizeof err);
    CHECK(rc == 0 || rc == VMUX_ERR_CONFIG);
    CHECK((rc == 0) == (cfg != NULL));
    if (cfg != NULL)
        check_round_trip(cfg);
    vmux_config_free(cfg);
    check_apply(text);
    free(text);
    return 0;
}
