/* The scripted fake server; see fakeserver.h. */
#include "fakeserver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

#define VT_FAKE_MAX_CONNS 64
/* A client that stops reading must not wedge the server thread (and so vt_fake_stop). */
#define VT_FAKE_SEND_TIMEOUT_S 5

struct vt_fake_action {
    vt_fake_kind kind;
    char *bytes;
    size_t len;
    struct vt_fake_action *next;
};

enum vt_fake_conn_state {
    VT_CONN_LIVE,    /* answering commands */
    VT_CONN_MUTED,   /* open, reading and dropping everything */
    VT_CONN_CLOSING, /* our side shut down; waiting for the client's EOF */
    VT_CONN_DEAD,    /* to be removed */
};

#define VT_FAKE_MAX_ANSWERS 8
#define VT_FAKE_MAX_COUNTED 32

/* How many commands of one name the server has read (vt_fake_count()). */
struct vt_fake_counted {
    char name[32]; /* "": a free entry */
    unsigned n;
};

/* A fixed answer to the commands of one name (vt_fake_answer()). */
struct vt_fake_answer {
    char *name, *bytes; /* NULL name: a free entry */
    unsigned left;      /* commands it still answers; 0: every one */
};

struct vt_fake_conn {
    int fd;
    redisReader *reader;
    enum vt_fake_conn_state state;
    bool subscribed; /* it sent SUBSCRIBE: vt_fake_publish() writes to it */
};

struct vt_fake {
    int listen_fd;
    int wake[2]; /* vt_fake_stop() and vt_fake_publish() write a byte to wake the thread */
    int port;
    pthread_t thread;

    pthread_mutex_t mu; /* guards everything below up to the thread-only part */
    struct vt_fake_action *head, *tail;
    size_t pending;
    struct vt_fake_action *pub_head, *pub_tail; /* vt_fake_publish()'s, not yet sent */
    unsigned accepted;
    unsigned hangups;
    unsigned commands;
    bool stopping;
    struct vt_fake_answer answers[VT_FAKE_MAX_ANSWERS];
    struct vt_fake_counted counted[VT_FAKE_MAX_COUNTED];

    /* Owned by the server thread alone. */
    struct vt_fake_conn conns[VT_FAKE_MAX_CONNS];
    size_t nconns;
};

static void vt_fake_pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool vt_fake_send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Half-closes so that the bytes already sent arrive before the FIN, never cut by a RST. */
static void vt_fake_conn_close(struct vt_fake_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = VT_CONN_CLOSING;
}

static void vt_fake_conn_free(struct vt_fake_conn *c)
{
    close(c->fd);
    redisReaderFree(c->reader);
    c->fd = -1;
    c->reader = NULL;
    c->state = VT_CONN_DEAD;
}

static struct vt_fake_action *vt_fake_take(vt_fake *f)
{
    pthread_mutex_lock(&f->mu);
    struct vt_fake_action *a = f->head;
    if (a != NULL) {
        f->head = a->next;
        if (f->head == NULL)
            f->tail = NULL;
        f->pending--;
    }
    f->commands++;
    pthread_mutex_unlock(&f->mu);
    return a;
}

static void vt_fake_perform(struct vt_fake_conn *c, const struct vt_fake_action *a)
{
    bool ok = true;
    switch (a->kind) {
    case VT_FAKE_SEND:
    case VT_FAKE_SEND_CLOSE:
    case VT_FAKE_SEND_SILENT:
        ok = vt_fake_send_all(c->fd, a->bytes, a->len);
        break;
    case VT_FAKE_SEND_BYTEWISE:
        for (size_t i = 0; ok && i < a->len; i++) {
            ok = vt_fake_send_all(c->fd, a->bytes + i, 1);
            vt_fake_pause_ms(1);
        }
        break;
    case VT_FAKE_CLOSE:
        break;
    }
    if (!ok || a->kind == VT_FAKE_SEND_CLOSE || a->kind == VT_FAKE_CLOSE)
        vt_fake_conn_close(c);
    else if (a->kind == VT_FAKE_SEND_SILENT)
        c->state = VT_CONN_MUTED;
}

static bool vt_fake_is_setup_command(const char *name)
{
    static const char *const setup[] = {"CLIENT", "AUTH", "SELECT", "HELLO"};
    for (size_t i = 0; i < sizeof setup / sizeof setup[0]; i++)
        if (strcasecmp(name, setup[i]) == 0)
            return true;
    return false;
}

/* The fixed answer to a command named name, copied (the caller frees it); NULL when none. */
static char *vt_fake_fixed(vt_fake *f, const char *name)
{
    char *bytes = NULL;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < VT_FAKE_MAX_ANSWERS; i++) {
        struct vt_fake_answer *a = &f->answers[i];
        if (a->name == NULL || strcasecmp(a->name, name) != 0)
            continue;
        bytes = strdup(a->bytes);
        if (a->left > 0 && --a->left == 0) {
            free(a->name);
            free(a->bytes);
            *a = (struct vt_fake_answer){0};
        }
        break;
    }
    pthread_mutex_unlock(&f->mu);
    return bytes;
}

/* The fixed answer to cmd: its name's and first argument's ("SENTINEL REPLICAS") first, then its
 * name's; NULL when none. */
static char *vt_fake_fixed_for(vt_fake *f, const redisReply *cmd)
{
    char both[128];
    if (cmd->elements >= 2 && cmd->element[1]->type == REDIS_REPLY_STRING &&
        (size_t)snprintf(both, sizeof both, "%s %s", cmd->element[0]->str, cmd->element[1]->str) <
            sizeof both) {
        char *fixed = vt_fake_fixed(f, both);
        if (fixed != NULL)
            return fixed;
    }
    return vt_fake_fixed(f, cmd->element[0]->str);
}

/* Counts a command named name (vt_fake_count()): in its entry, or a free one. */
static void vt_fake_note(vt_fake *f, const char *name)
{
    if (strlen(name) >= sizeof f->counted[0].name)
        return;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < VT_FAKE_MAX_COUNTED; i++) {
        struct vt_fake_counted *e = &f->counted[i];
        if (e->name[0] == '\0')
            snprintf(e->name, sizeof e->name, "%s", name);
        if (strcasecmp(e->name, name) == 0) {
            e->n++;
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

static void vt_fake_command(vt_fake *f, struct vt_fake_conn *c, const redisReply *cmd)
{
    if (cmd->type != REDIS_REPLY_ARRAY || cmd->elements == 0 ||
        cmd->element[0]->type != REDIS_REPLY_STRING) {
        static const char err[] = "-ERR fakeserver: not a command\r\n";
        if (!vt_fake_send_all(c->fd, err, sizeof err - 1))
            vt_fake_conn_close(c);
        return;
    }
    const char *name = cmd->element[0]->str;
    const char *answer = NULL;
    if (strcasecmp(name, "SUBSCRIBE") == 0)
        c->subscribed = true;
    vt_fake_note(f, name);
    char *fixed = vt_fake_fixed_for(f, cmd);
    if (fixed != NULL) {
        if (!vt_fake_send_all(c->fd, fixed, strlen(fixed)))
            vt_fake_conn_close(c);
        free(fixed);
        return;
    }
    if (strcasecmp(name, "PING") == 0)
        answer = "+PONG\r\n";
    else if (vt_fake_is_setup_command(name))
        answer = "+OK\r\n";
    if (answer != NULL) {
        if (!vt_fake_send_all(c->fd, answer, strlen(answer)))
            vt_fake_conn_close(c);
        return;
    }
    struct vt_fake_action *a = vt_fake_take(f);
    if (a == NULL) {
        static const char empty[] = "-ERR fakeserver: script is empty\r\n";
        if (!vt_fake_send_all(c->fd, empty, sizeof empty - 1))
            vt_fake_conn_close(c);
        return;
    }
    vt_fake_perform(c, a);
    free(a->bytes);
    free(a);
}

static void vt_fake_parse(vt_fake *f, struct vt_fake_conn *c, const char *buf, size_t n)
{
    if (redisReaderFeed(c->reader, buf, n) != REDIS_OK) {
        vt_fake_conn_close(c);
        return;
    }
    while (c->state == VT_CONN_LIVE) {
        void *reply = NULL;
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            vt_fake_conn_close(c);
            return;
        }
        if (reply == NULL)
            return;
        vt_fake_command(f, c, reply);
        freeReplyObject(reply);
    }
}

static void vt_fake_readable(vt_fake *f, struct vt_fake_conn *c)
{
    char buf[16384];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        if (c->state != VT_CONN_CLOSING) {
            pthread_mutex_lock(&f->mu);
            f->hangups++;
            pthread_mutex_unlock(&f->mu);
        }
        vt_fake_conn_free(c);
        return;
    }
    if (c->state == VT_CONN_LIVE)
        vt_fake_parse(f, c, buf, (size_t)n);
}

static void vt_fake_accept(vt_fake *f)
{
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0)
        return;
    pthread_mutex_lock(&f->mu);
    f->accepted++;
    pthread_mutex_unlock(&f->mu);
    redisReader *r = f->nconns < VT_FAKE_MAX_CONNS ? redisReaderCreate() : NULL;
    if (r == NULL) {
        close(fd);
        return;
    }
    int one = 1;
    struct timeval tv = {VT_FAKE_SEND_TIMEOUT_S, 0};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    f->conns[f->nconns++] = (struct vt_fake_conn){fd, r, VT_CONN_LIVE, false};
}

static void vt_fake_compact(vt_fake *f)
{
    size_t j = 0;
    for (size_t i = 0; i < f->nconns; i++)
        if (f->conns[i].state != VT_CONN_DEAD)
            f->conns[j++] = f->conns[i];
    f->nconns = j;
}

/* Sends what vt_fake_publish() queued to every live subscribed connection, and drains the wake
 * pipe (its bytes are only wake-ups). */
static void vt_fake_send_published(vt_fake *f)
{
    char drain[64];
    ssize_t n = read(f->wake[0], drain, sizeof drain); /* POLLIN: it does not block */
    (void)n;
    pthread_mutex_lock(&f->mu);
    struct vt_fake_action *a = f->pub_head;
    f->pub_head = f->pub_tail = NULL;
    pthread_mutex_unlock(&f->mu);
    while (a != NULL) {
        struct vt_fake_action *next = a->next;
        for (size_t i = 0; i < f->nconns; i++) {
            struct vt_fake_conn *c = &f->conns[i];
            if (c->state == VT_CONN_LIVE && c->subscribed &&
                !vt_fake_send_all(c->fd, a->bytes, a->len))
                vt_fake_conn_close(c);
        }
        free(a->bytes);
        free(a);
        a = next;
    }
}

static bool vt_fake_stopping(vt_fake *f)
{
    pthread_mutex_lock(&f->mu);
    bool s = f->stopping;
    pthread_mutex_unlock(&f->mu);
    return s;
}

static void *vt_fake_main(void *arg)
{
    vt_fake *f = arg;
    struct pollfd pfd[VT_FAKE_MAX_CONNS + 2];
    while (!vt_fake_stopping(f)) {
        pfd[0] = (struct pollfd){.fd = f->wake[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = f->listen_fd, .events = POLLIN};
        size_t nconns = f->nconns;
        for (size_t i = 0; i < nconns; i++)
            pfd[i + 2] = (struct pollfd){.fd = f->conns[i].fd, .events = POLLIN};
        if (poll(pfd, nconns + 2, -1) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < nconns; i++)
            if (pfd[i + 2].revents != 0)
                vt_fake_readable(f, &f->conns[i]);
        if (pfd[1].revents & POLLIN)
            vt_fake_accept(f);
        if (pfd[0].revents & POLLIN)
            vt_fake_send_published(f);
        vt_fake_compact(f);
    }
    for (size_t i = 0; i < f->nconns; i++)
        vt_fake_conn_free(&f->conns[i]);
    f->nconns = 0;
    return NULL;
}

static int vt_fake_listen(vt_fake *f)
{
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->listen_fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(f->listen_fd, 16) != 0 ||
        getsockname(f->listen_fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    f->port = ntohs(sa.sin_port);
    return 0;
}

vt_fake *vt_fake_start(void)
{
    vt_fake *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->listen_fd = -1;
    f->wake[0] = f->wake[1] = -1;
    pthread_mutex_init(&f->mu, NULL);
    if (vt_fake_listen(f) != 0 || pipe2(f->wake, O_CLOEXEC) != 0 ||
        pthread_create(&f->thread, NULL, vt_fake_main, f) != 0) {
        fprintf(stderr, "fakeserver: cannot start: %s\n", strerror(errno));
        if (f->listen_fd >= 0)
            close(f->listen_fd);
        if (f->wake[0] >= 0) {
            close(f->wake[0]);
            close(f->wake[1]);
        }
        pthread_mutex_destroy(&f->mu);
        free(f);
        return NULL;
    }
    return f;
}

int vt_fake_port(const vt_fake *f)
{
    return f->port;
}

int vt_fake_push(vt_fake *f, vt_fake_kind kind, const void *bytes, size_t len)
{
    struct vt_fake_action *a = calloc(1, sizeof *a);
    char *copy = malloc(len ? len : 1);
    if (a == NULL || copy == NULL) {
        free(a);
        free(copy);
        return -1;
    }
    if (len > 0)
        memcpy(copy, bytes, len);
    *a = (struct vt_fake_action){kind, copy, len, NULL};
    pthread_mutex_lock(&f->mu);
    if (f->tail != NULL)
        f->tail->next = a;
    else
        f->head = a;
    f->tail = a;
    f->pending++;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int vt_fake_push_str(vt_fake *f, vt_fake_kind kind, const char *bytes)
{
    return vt_fake_push(f, kind, bytes, strlen(bytes));
}

int vt_fake_publish(vt_fake *f, const char *bytes)
{
    struct vt_fake_action *a = calloc(1, sizeof *a);
    char *copy = strdup(bytes);
    if (a == NULL || copy == NULL) {
        free(a);
        free(copy);
        return -1;
    }
    *a = (struct vt_fake_action){VT_FAKE_SEND, copy, strlen(copy), NULL};
    pthread_mutex_lock(&f->mu);
    if (f->pub_tail != NULL)
        f->pub_tail->next = a;
    else
        f->pub_head = a;
    f->pub_tail = a;
    pthread_mutex_unlock(&f->mu);
    while (write(f->wake[1], "p", 1) < 0 && errno == EINTR) {
    }
    return 0;
}

int vt_fake_answer(vt_fake *f, const char *name, const char *bytes, unsigned times)
{
    char *n = strdup(name), *b = strdup(bytes);
    int rc = -1;
    pthread_mutex_lock(&f->mu);
    struct vt_fake_answer *slot = NULL;
    for (size_t i = 0; i < VT_FAKE_MAX_ANSWERS; i++) {
        struct vt_fake_answer *a = &f->answers[i];
        if (a->name != NULL && strcasecmp(a->name, name) == 0) {
            slot = a;
            break;
        }
        if (a->name == NULL && slot == NULL)
            slot = a;
    }
    if (n != NULL && b != NULL && slot != NULL) {
        free(slot->name);
        free(slot->bytes);
        *slot = (struct vt_fake_answer){n, b, times};
        n = b = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&f->mu);
    free(n);
    free(b);
    return rc;
}

unsigned vt_fake_accepted(vt_fake *f)
{
    pthread_mutex_lock(&f->mu);
    unsigned n = f->accepted;
    pthread_mutex_unlock(&f->mu);
    return n;
}

unsigned vt_fake_hangups(vt_fake *f)
{
    pthread_mutex_lock(&f->mu);
    unsigned n = f->hangups;
    pthread_mutex_unlock(&f->mu);
    return n;
}

unsigned vt_fake_count(vt_fake *f, const char *name)
{
    unsigned n = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < VT_FAKE_MAX_COUNTED && f->counted[i].name[0] != '\0'; i++)
        if (strcasecmp(f->counted[i].name, name) == 0)
            n = f->counted[i].n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

unsigned vt_fake_commands(vt_fake *f)
{
    pthread_mutex_lock(&f->mu);
    unsigned n = f->commands;
    pthread_mutex_unlock(&f->mu);
    return n;
}

size_t vt_fake_pending(vt_fake *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->pending;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void vt_fake_stop(vt_fake *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_mutex_unlock(&f->mu);
    while (write(f->wake[1], "x", 1) < 0 && errno == EINTR) {
    }
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    close(f->wake[0]);
    close(f->wake[1]);
    while (f->head != NULL) {
        struct vt_fake_action *next = f->head->next;
        free(f->head->bytes);
        free(f->head);
        f->head = next;
    }
    while (f->pub_head != NULL) {
        struct vt_fake_action *next = f->pub_head->next;
        free(f->pub_head->bytes);
        free(f->pub_head);
        f->pub_head = next;
    }
    for (size_t i = 0; i < VT_FAKE_MAX_ANSWERS; i++) {
        free(f->answers[i].name);
        free(f->answers[i].bytes);
    }
    pthread_mutex_destroy(&f->mu);
    free(f);
}
