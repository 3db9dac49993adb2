/*
 * linger.c - lingering close (wire/linger.h): sockets whose writing side is
 * shut down, read and discarded on a timer until the peer ends too.
 */
#include "wire/linger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire/clock.h"

#define DRAIN_BUF 16384 /* bytes one read takes */

typedef struct lingering {
    int fd;              /* our duplicate of the socket */
    int64_t deadline_us; /* close it then even if the peer has not ended */
} lingering;

struct pws__linger {
    struct lws_context *ctx;      /* NULL once quiesced */
    lingering socks[PWS__LINGER_MAX];
    unsigned n;
    bool armed;                   /* sul is scheduled */
    lws_sorted_usec_list_t sul;
};

pws__linger *pws__linger_new(struct lws_context *ctx)
{
    pws__linger *l = calloc(1, sizeof *l);
    if (l)
        l->ctx = ctx;
    return l;
}

/* Reads what the peer sent; true while the socket should linger on. */
static bool drain(int fd)
{
    char buf[DRAIN_BUF];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK); /* 0: the peer ended */
    }
}

static void tick(lws_sorted_usec_list_t *sul);

static void arm(pws__linger *l)
{
    if (l->armed || !l->n || !l->ctx)
        return;
    lws_sul_schedule(l->ctx, 0, &l->sul, tick, PWS__LINGER_POLL_US);
    l->armed = true;
}

static void tick(lws_sorted_usec_list_t *sul)
{
    pws__linger *l = lws_container_of(sul, pws__linger, sul);
    l->armed = false;
    int64_t now = pws__mono_us();
    for (unsigned i = 0; i < l->n;) {
        if (drain(l->socks[i].fd) && now < l->socks[i].deadline_us) {
            i++;
            continue;
        }
        close(l->socks[i].fd);
        l->socks[i] = l->socks[--l->n];
    }
    arm(l);
}

bool pws__linger_add(pws__linger *l, int fd)
{
    if (fd < 0)
        return false;
    shutdown(fd, SHUT_WR);
    if (!l || !l->ctx || l->n >= PWS__LINGER_MAX)
        return false;
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return false;
    l->socks[l->n++] = (lingering){dup_fd, pws__mono_us() + PWS__LINGER_MAX_US};
    arm(l);
    return true;
}

void pws__linger_quiesce(pws__linger *l)
{
    if (!l)
        return;
    if (l->armed && l->ctx)
        lws_sul_cancel(&l->sul);
    l->armed = false;
    l->ctx = NULL;
}

void pws__linger_free(pws__linger *l)
{
    if (!l)
        return;
    for (unsigned i = 0; i < l->n; i++)
        close(l->socks[i].fd);
    free(l);
}
