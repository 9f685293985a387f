/*
 * A server that answers but cannot serve now: busy running a script or function (BUSY), loading
 * its dataset (LOADING), or a replica that lost its primary and serves no stale data
 * (MASTERDOWN). The first step of an endpoint that meets such a reply says what it is, with a
 * hint; the steps after it that meet it again could check nothing, and say so, rather than
 * blaming the ACL user or guessing what the server is.
 */
#include <ctype.h>
#include <string.h>

#include "doctor.h"

typedef struct state_text {
    const char *code;   /* the error code the server replies with */
    const char *what;   /* the detail of the step that meets it first */
    const char *hint;   /* that step's hint */
    const char *unseen; /* the detail of the steps after it */
} state_text;

static const state_text TEXTS[] = {
    [DOC_STATE_BUSY] = {"BUSY",
                        "the server is busy running a script or function, and refuses every "
                        "other command until it ends",
                        "a script or function has run longer than busy-reply-threshold "
                        "(lua-time-limit, 5 s by default): stop it with SCRIPT KILL or FUNCTION "
                        "KILL (one that has written can only be ended by SHUTDOWN NOSAVE), or "
                        "wait for it to end; then find it in the SLOWLOG and make it shorter",
                        "the server is busy: not checked"},
    [DOC_STATE_LOADING] = {"LOADING",
                           "the server is loading its dataset into memory, and refuses "
                           "commands until it is done",
                           "wait until it is done (INFO persistence: loading_eta_seconds): a "
                           "restart, or a replica's full sync, loads the whole dataset again",
                           "the server is loading its dataset: not checked"},
    [DOC_STATE_MASTERDOWN] = {"MASTERDOWN",
                              "the server is a replica whose link to its primary is down, "
                              "with "
                              "replica-serve-stale-data no: it refuses reads until the link "
                              "is back",
                              "bring the primary back or mend the network between them (the "
                              "role step names the primary), set replica-serve-stale-data yes "
                              "to serve stale data meanwhile, or point the configuration at "
                              "the primary",
                              "the replica's link to its primary is down: not checked"},
};

#define NTEXTS (sizeof(TEXTS) / sizeof(TEXTS[0]))

/* True when code occurs in text as a word of its own, followed by a space or the end. */
static bool has_code(const char *text, const char *code)
{
    size_t n = strlen(code);
    for (const char *p = strstr(text, code); p != NULL; p = strstr(p + 1, code)) {
        bool starts = p == text || !isalnum((unsigned char)p[-1]);
        if (starts && (p[n] == ' ' || p[n] == '\0'))
            return true;
    }
    return false;
}

doc_state doc_state_of(const char *err)
{
    for (size_t i = 1; err != NULL && i < NTEXTS; i++)
        if (has_code(err, TEXTS[i].code))
            return (doc_state)i;
    return DOC_STATE_READY;
}

const char *doc_state_unseen(doc_state st)
{
    return st > DOC_STATE_READY && st < NTEXTS ? TEXTS[st].unseen : "";
}

void doc_state_hint(doc_step *s, doc_state st)
{
    if (st > DOC_STATE_READY && st < NTEXTS)
        doc_step_hint(s, "%s", TEXTS[st].hint);
}

bool doc_state_step(doc_step *s, doc_endpoint *ep, const char *err)
{
    doc_state st = doc_state_of(err);
    if (st == DOC_STATE_READY)
        return false;
    if (ep->state != DOC_STATE_READY) {
        doc_step_set(s, DOC_SKIPPED, "%s", TEXTS[st].unseen);
        s->hint[0] = '\0'; /* a hint the step had set would blame something else */
        return true;
    }
    ep->state = st;
    char before[sizeof(s->detail)];
    snprintf(before, sizeof(before), "%s", s->detail);
    if (before[0])
        doc_step_set(s, DOC_FAIL, "%s; but %s: %s", before, TEXTS[st].what, err);
    else
        doc_step_set(s, DOC_FAIL, "%s: %s", TEXTS[st].what, err);
    doc_step_hint(s, "%s", TEXTS[st].hint);
    doc_step_fact(s, "server_state", "%s", TEXTS[st].code);
    return true;
}
