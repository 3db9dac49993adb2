/*
 * polyws/judge.h - verdicts on a client's behaviour from the mock's journal.
 *
 * After a scenario ran, the judge looks at what happened: the journal of
 * every frame and connection event (polyws/mock.h) and how the client
 * process ended.  It returns one verdict per assertion of the scenario
 * (polyws/scenario.h), in the order they were written, plus scenario-level
 * verdicts: a failed step (journal kind "step_failed"), a client that had
 * to be killed at its timeout, died from a signal or could not be run, and
 * a journal cut short by its memory cap.
 *
 * Every message is one line that says what was seen, what was expected and
 * where the assertion was written, e.g.
 *   reconnect_delay: gap before connection 3 was 12 ms, expected >= 400 ms (s.yaml:31:5)
 * A failed report also carries details: every failure, then the last frames
 * each way of the connections concerned.
 *
 * The judge is pure: no sockets, no processes, no clock.  It reads files
 * only for the output assertions (the client's captured stdout/stderr and
 * the expected file of output_equals).  Nothing it prints contains a secret
 * the caller names: every excerpt of client output is scrubbed first, and
 * the journal already holds auth messages redacted by the mock.
 *
 * Threading: no global state; one report per call, owned by the caller.
 */
#ifndef POLYWS_JUDGE_H
#define POLYWS_JUDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <polyws/mock.h>
#include <polyws/scenario.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PWSJ_EXCERPT_MAX 200u      /* bytes of one frame or output line quoted in a message */
#define PWSJ_FRAMES_EACH_WAY 5u    /* frames per direction shown for a failing connection */
#define PWSJ_MAX_DETAIL_CONNS 3u   /* connections whose last frames a report shows */
#define PWSJ_MAX_SECRETS 16u       /* secrets scrubbed from client output excerpts */
#define PWSJ_RESUBSCRIBE_GRACE_MS 1000u /* resubscribed: a connection that ended sooner than this after
                                           auth_success without any subscribe is not judged */

/** What the client's stdout is judged as (docs/client-contract.md). */
typedef enum pwsj_output {
    PWSJ_OUTPUT_EVENTS = 0,    /**< market-data events, one JSON object per line: compared with what the
                                    server sent; printed/not_printed/output_* assertions are judged */
    PWSJ_OUTPUT_NONE           /**< not judged: every output assertion is reported as skipped */
} pwsj_output;

/** How the client process ended.  Zero-initialize; the runner fills what it knows. */
typedef struct pwsj_client {
    bool started;              /**< the process was started; false: start_error says why */
    const char *start_error;   /**< why it could not be started (with !started), or NULL */
    bool exited;               /**< it exited by itself or after the runner's SIGTERM: exit_code is valid */
    int exit_code;             /**< its exit status (with exited) */
    int term_signal;           /**< the signal that ended it (without exited), else 0 */
    bool timed_out;            /**< still running at the timeout: the runner stopped it (SIGTERM,
                                    then SIGKILL after a grace period) */
    bool interrupted;          /**< the runner stopped it because the whole run was interrupted */
    bool completed;            /**< the runner stopped it (SIGTERM) because the scenario was complete: it had
                                    printed client.count events, or client.duration had passed; not a
                                    failure, whatever the client then exited with */
    pwsj_output output;        /**< how its stdout is judged */
    uint32_t timeout_ms;       /**< the timeout that applied, for messages */
    const char *stdout_path;   /**< its captured stdout, or NULL (output assertions then fail) */
    const char *stderr_path;   /**< its captured stderr, or NULL */
    const char *secrets[PWSJ_MAX_SECRETS]; /**< strings never to quote (the API key), NULL-terminated;
                                    each is replaced by "***" in excerpts */
} pwsj_client;

/** One verdict. */
typedef struct pwsj_verdict {
    int assertion;             /**< index into sc->assertions, or -1 for a scenario-level verdict */
    bool pass;                 /**< it held (or was skipped) */
    bool skipped;              /**< not judged (an output assertion under PWSJ_OUTPUT_NONE); pass is true */
    int rank;                  /**< for failures, which comes first: 0 a behaviour seen at t_us, 1 a behaviour
                                    without a time (output), 2 how the run ended (timeout, exit status) */
    int64_t t_us;              /**< when the failure happened on the journal's clock (-1 unknown) */
    uint32_t conn;             /**< the connection it is about, 0 if none in particular */
    char *message;             /**< one line (malloc'd, owned by the report) */
} pwsj_verdict;

/** The verdicts on one run. */
typedef struct pwsj_report {
    bool pass;                 /**< every verdict passed */
    pwsj_verdict *verdicts;    /**< scenario-level failures first, then one per assertion in order */
    size_t nverdicts;          /**< entries in verdicts */
    size_t nfailed;            /**< failed verdicts */
    const char *first_failure; /**< the headline: the message of the failure that came first (lowest rank,
                                    then earliest t_us, then order written), or NULL (points into verdicts) */
    size_t nskipped;           /**< skipped verdicts */
    char *details;             /**< lines separated by '\n', no trailing one: each failure, first cause
                                    first, then the last frames each way of the connections concerned;
                                    "" if passed */
} pwsj_report;

/** Judges one run.  journal/njournal: the mock's journal (pwsm_journal), in order; client: how
 * the client ended (NULL = unknown: client assertions fail).  Fills *out (free with
 * pwsj_report_free).  Returns 0, or -1 when out of memory (then *out is empty and freeable). */
int pwsj_judge(const pwss_scenario *sc, const pwsm_entry *journal, size_t njournal,
               const pwsj_client *client, pwsj_report *out);

/** Frees what pwsj_judge allocated; the struct itself is the caller's.  NULL is fine. */
void pwsj_report_free(pwsj_report *r);

/** The name of an assertion kind as written in YAML ("auth_within"), "?" if unknown. */
const char *pwsj_assert_name(pwss_assert_kind kind);

/** Appends to *buf (malloc'd or NULL, grown as needed; *len its length) the last `per_dir`
 * client->server and server->client frames of connection `conn`, oldest first, one per line
 * ending in '\n', each indented by `indent` spaces, cut to PWSJ_EXCERPT_MAX bytes with control
 * and invalid UTF-8 bytes escaped and `secrets` (NULL-terminated, may be NULL) replaced by "***";
 * then how the connection ended.  Returns 0, or -1 when out of memory (*buf stays freeable). */
int pwsj_last_frames(const pwsm_entry *journal, size_t njournal, uint32_t conn, size_t per_dir,
                     int indent, const char *const *secrets, char **buf, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
