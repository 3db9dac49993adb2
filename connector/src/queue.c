/*
 * queue.c - the bounded event queue between the network thread and the
 * delivery thread (see queue.h for the contract).
 *
 * One mutex guards the ring.  That is cheaper than it sounds: the producer
 * takes it once per batch (one parsed frame, often hundreds of events) and the
 * consumer once per pop (up to batch_max events), so the lock is taken a few
 * thousand times per second even at a million events per second.  A lock-free
 * ring would save little and could not support DROP_OLDEST, where the
 * producer frees slots the consumer might be reading; that is also why pop
 * copies events out while holding the lock.
 *
 * The condition variable is signalled only when the consumer is actually
 * blocked in pop (consumer_waiting), and the flag is cleared by the signaller,
 * so a busy stream costs no futex calls at all.
 *
 * Ownership of PWS_EV_OTHER JSON: push copies the text into a heap blob owned
 * by the slot (one malloc under the lock; such events are rare).  Pop moves
 * the blob to `released`, a consumer-only list freed at the start of the next
 * pop, outside the lock.
 */
#include "queue.h"
#include "wire/clock.h" /* pws__deadline_after_ms: the timed pop's deadline */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Status, lifecycle and parse-error events use the control reserve; agg,
 * trade, quote and other are market data. */
static bool queue_is_control(pws_event_type type)
{
    return type == PWS_EV_STATUS || type == PWS_EV_CONNECTION || type == PWS_EV_PARSE_ERROR;
}

/* Ring index of the i-th queued event (0 = oldest); i may equal len. */
static size_t queue_slot(const pws__queue *q, size_t i)
{
    size_t s = q->head + i;
    return s >= q->nslots ? s - q->nslots : s;
}

int pws__queue_init(pws__queue *q, size_t capacity, pws_overflow policy,
                    void (*on_space)(void *), void *on_space_user)
{
    pthread_condattr_t ca;

    if (q == NULL || capacity == 0)
        return PWS_ERR_INVALID;
    if (policy != PWS_OVERFLOW_BLOCK && policy != PWS_OVERFLOW_DROP_OLDEST &&
        policy != PWS_OVERFLOW_DISCONNECT)
        return PWS_ERR_INVALID;
    if (capacity > PWS__QUEUE_MAX_CAPACITY)
        return PWS_ERR_LIMIT;

    memset(q, 0, sizeof(*q));
    q->capacity = capacity;
    q->nslots = capacity + PWS__QUEUE_CONTROL_RESERVE;
    q->policy = policy;
    q->on_space = on_space;
    q->on_space_user = on_space_user;

    /* calloc of a large ring is served by fresh zero pages, so resident
     * memory grows only as far as the ring has ever been filled. */
    q->slots = calloc(q->nslots, sizeof(*q->slots));
    q->blobs = calloc(q->nslots, sizeof(*q->blobs));
    /* One pop can release at most nslots blobs, so this never grows. */
    q->released = calloc(q->nslots, sizeof(*q->released));
    if (q->slots == NULL || q->blobs == NULL || q->released == NULL)
        goto nomem;

    if (pthread_mutex_init(&q->mu, NULL) != 0)
        goto syserr;
    /* A monotonic clock for timed pops: wall-clock jumps must not stretch
     * or cut the delivery thread's wait. */
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&q->mu);
        goto syserr;
    }
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&q->nonempty, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&q->mu);
        goto syserr;
    }
    pthread_condattr_destroy(&ca);
    return PWS_OK;

nomem:
    free(q->slots);
    free(q->blobs);
    free(q->released);
    memset(q, 0, sizeof(*q));
    return PWS_ERR_NOMEM;
syserr:
    free(q->slots);
    free(q->blobs);
    free(q->released);
    memset(q, 0, sizeof(*q));
    return PWS_ERR_SYSTEM;
}

/* Frees the blobs the consumer got from its previous pop.  Consumer only. */
static void queue_free_released(pws__queue *q)
{
    for (size_t i = 0; i < q->released_len; i++)
        free(q->released[i]);
    q->released_len = 0;
}

void pws__queue_free(pws__queue *q)
{
    if (q == NULL || q->slots == NULL)
        return;
    queue_free_released(q);
    /* Free slots always hold NULL, so scanning every slot is simple and
     * costs one pass over nslots pointers, once. */
    for (size_t i = 0; i < q->nslots; i++)
        free(q->blobs[i]);
    free(q->slots);
    free(q->blobs);
    free(q->released);
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, sizeof(*q));
}

/* Turns a slot whose OTHER json could not be copied into a parse error, so
 * the consumer sees that an event was lost at this exact place. */
static void queue_blob_failed(pws_event *slot, const pws_event *ev, const char *reason)
{
    const char *json = ev->u.other.json;
    size_t len = ev->u.other.json_len;
    size_t n = 0;

    memset(&slot->u, 0, sizeof(slot->u));
    slot->type = PWS_EV_PARSE_ERROR;
    slot->u.error.offset = 0;
    slot->u.error.frame_len = len;
    slot->u.error.reason = reason;
    if (json != NULL) {
        for (; n < len && n < PWS_EXCERPT_MAX - 1; n++) {
            unsigned char ch = (unsigned char)json[n];
            slot->u.error.excerpt[n] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '.';
        }
    }
    slot->u.error.excerpt[n] = '\0';
}

/* Appends a copy of ev at the tail.  The caller has checked len < nslots.
 * Called with the lock held. */
static void queue_store(pws__queue *q, const pws_event *ev)
{
    size_t s = queue_slot(q, q->len);
    pws_event *slot = &q->slots[s];

    *slot = *ev;
    if (ev->type == PWS_EV_OTHER) {
        const char *json = ev->u.other.json;
        size_t len = ev->u.other.json_len;

        if (len == 0) {
            /* Never hand out NULL: consumers may print it with %.*s. */
            slot->u.other.json = "";
        } else if (json == NULL) {
            queue_blob_failed(slot, ev, "queue: other event without json");
        } else if (len > PWS__QUEUE_MAX_BLOB_BYTES) {
            queue_blob_failed(slot, ev, "queue: other event json too large");
        } else {
            /* One extra byte: the copy is NUL-terminated as a courtesy,
             * although the contract only promises json_len bytes. */
            char *blob = malloc(len + 1);
            if (blob == NULL) {
                queue_blob_failed(slot, ev, "queue: out of memory copying other event");
            } else {
                memcpy(blob, json, len);
                blob[len] = '\0';
                slot->u.other.json = blob;
                q->blobs[s] = blob;
            }
        }
    }
    q->len++;
    if (q->len > q->high_water)
        q->high_water = q->len;
}

/* DROP_OLDEST: removes the oldest queued market-data event.  Control events
 * queued ahead of it move up one slot to keep their order; they are rare
 * (a handful per connection), so this is O(1) in practice and O(len) at
 * worst.  Returns false if only control events are queued.  Lock held. */
static bool queue_drop_oldest_data(pws__queue *q)
{
    size_t i;
    size_t victim;

    for (i = 0; i < q->len; i++)
        if (!queue_is_control(q->slots[queue_slot(q, i)].type))
            break;
    if (i == q->len)
        return false;

    victim = queue_slot(q, i);
    free(q->blobs[victim]);
    q->blobs[victim] = NULL;
    for (; i > 0; i--) {
        size_t to = queue_slot(q, i);
        size_t from = queue_slot(q, i - 1);
        /* A moved OTHER event keeps pointing at its blob: the pointer moves
         * with it, the text does not. */
        q->slots[to] = q->slots[from];
        q->blobs[to] = q->blobs[from];
    }
    q->blobs[q->head] = NULL;
    q->head = queue_slot(q, 1);
    q->len--;
    q->dropped++;
    return true;
}

/* Takes the wake-up decision under the lock: signal only if the consumer is
 * blocked and there is now something for it.  Clearing the flag here means
 * one signal per wait, however many batches arrive before it runs. */
static bool queue_take_wakeup(pws__queue *q)
{
    if (q->consumer_waiting && q->len > 0) {
        q->consumer_waiting = false;
        return true;
    }
    return false;
}

size_t pws__queue_push_batch(pws__queue *q, const pws_event *evs, size_t n)
{
    size_t accepted = 0;
    bool wake;

    if (q == NULL || evs == NULL || n == 0)
        return 0;

    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    for (; accepted < n; accepted++) {
        const pws_event *ev = &evs[accepted];

        if (queue_is_control(ev->type)) {
            if (q->len < q->nslots)
                queue_store(q, ev);
            else
                q->dropped++;
            continue;
        }
        if (q->len >= q->capacity) {
            if (q->policy != PWS_OVERFLOW_DROP_OLDEST) {
                q->producer_full = true;
                break;
            }
            /* Control events in the reserve can keep len above capacity, so
             * drop until there is room or nothing droppable is left. */
            while (q->len >= q->capacity && queue_drop_oldest_data(q))
                ;
            if (q->len >= q->capacity) {
                q->dropped++;
                continue;
            }
        }
        queue_store(q, ev);
    }
    wake = queue_take_wakeup(q);
    pthread_mutex_unlock(&q->mu);
    /* Signalling after unlocking saves the woken consumer from blocking
     * straight away on the mutex we still hold. */
    if (wake)
        pthread_cond_signal(&q->nonempty);
    return accepted;
}

int pws__queue_push_control(pws__queue *q, const pws_event *ev)
{
    int rc = PWS_OK;
    bool wake;

    if (q == NULL || ev == NULL)
        return PWS_ERR_INVALID;

    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return PWS_ERR_STATE;
    }
    if (q->len < q->nslots) {
        queue_store(q, ev);
    } else {
        q->dropped++;
        rc = PWS_ERR_LIMIT;
    }
    wake = queue_take_wakeup(q);
    pthread_mutex_unlock(&q->mu);
    if (wake)
        pthread_cond_signal(&q->nonempty);
    return rc;
}

bool pws__queue_full(pws__queue *q)
{
    bool full;

    if (q == NULL)
        return false;
    pthread_mutex_lock(&q->mu);
    full = q->len >= q->capacity;
    /* A producer that pauses on this answer must be woken like one whose
     * push was refused, or it would wait forever. */
    if (full && !q->closed)
        q->producer_full = true;
    pthread_mutex_unlock(&q->mu);
    return full;
}

size_t pws__queue_pop(pws__queue *q, pws_event *out, size_t max, int timeout_ms)
{
    size_t n;
    size_t first;
    bool fire;
    void (*on_space)(void *);
    void *on_space_user;

    if (q == NULL)
        return 0;
    /* The previous pop's blobs: only this thread ever touches `released`,
     * so they are freed without the lock. */
    queue_free_released(q);
    if (out == NULL || max == 0)
        return 0;

    pthread_mutex_lock(&q->mu);
    if (q->len == 0 && !q->closed && timeout_ms != 0) {
        struct timespec deadline;

        if (timeout_ms > 0)
            deadline = pws__deadline_after_ms(CLOCK_MONOTONIC, timeout_ms);
        while (q->len == 0 && !q->closed) {
            int rc;

            q->consumer_waiting = true;
            if (timeout_ms < 0)
                rc = pthread_cond_wait(&q->nonempty, &q->mu);
            else
                rc = pthread_cond_timedwait(&q->nonempty, &q->mu, &deadline);
            if (rc == ETIMEDOUT)
                break;
        }
        q->consumer_waiting = false;
    }

    n = q->len < max ? q->len : max;
    /* Copy out in at most two contiguous runs (the ring may wrap). */
    first = q->nslots - q->head;
    if (first > n)
        first = n;
    memcpy(out, &q->slots[q->head], first * sizeof(*out));
    memcpy(out + first, &q->slots[0], (n - first) * sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        size_t s = queue_slot(q, i);
        if (q->blobs[s] != NULL) {
            q->released[q->released_len++] = q->blobs[s];
            q->blobs[s] = NULL;
        }
    }
    q->head = queue_slot(q, n);
    q->len -= n;

    /* Hysteresis: wake the paused producer only at half capacity, so it
     * resumes with room for a good run of frames instead of flapping
     * between paused and reading on every pop. */
    fire = n > 0 && q->producer_full && q->len <= q->capacity / 2;
    if (fire)
        q->producer_full = false;
    on_space = q->on_space;
    on_space_user = q->on_space_user;
    pthread_mutex_unlock(&q->mu);

    if (fire && on_space != NULL)
        on_space(on_space_user);
    return n;
}

void pws__queue_close(pws__queue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    q->consumer_waiting = false;
    pthread_mutex_unlock(&q->mu);
    pthread_cond_broadcast(&q->nonempty);
}

void pws__queue_stats(pws__queue *q, size_t *len, size_t *high_water, uint64_t *dropped)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    if (len != NULL)
        *len = q->len;
    if (high_water != NULL)
        *high_water = q->high_water;
    if (dropped != NULL)
        *dropped = q->dropped;
    pthread_mutex_unlock(&q->mu);
}
