/* kwatch.c - raw pod watch for the latency benchmark (tests/bench): one line per event,
 *   "<arrival time> <type> <pod> <uid> <deleting 0/1> <phase> <ready 0/1>"
 * the same format as `bench.py watch`, but in C on libcurl like iocmgr's own network
 * thread, so that the reference clock of "latency above the watch event" is not a Python
 * process that the scheduler may delay. The arrival time (CLOCK_REALTIME) is taken when
 * libcurl hands over the bytes that complete the line.
 *
 *   kwatch API_URL CA_FILE CERT KEY NAMESPACE OUT
 * Runs until SIGTERM/SIGINT or the server ends the watch (timeoutSeconds=3000).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

static FILE *out;
static char *buf;
static size_t len, cap;
static volatile sig_atomic_t stop;

static void onSignal(int sig) { (void)sig; stop = 1; }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *str(const cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return s && *s ? s : "-";
}

static void emit(double t, const char *line, size_t n)
{
    cJSON *ev = cJSON_ParseWithLength(line, n), *obj, *md, *st, *c;
    int ready = 0, deleting;
    const char *phase;
    if (!ev) return;
    obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    deleting = cJSON_GetObjectItemCaseSensitive(md, "deletionTimestamp") != NULL;
    phase = str(st, "phase");
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
        if (strcmp(str(c, "type"), "Ready") == 0 && strcmp(str(c, "status"), "True") == 0) ready = 1;
    if (deleting || strcmp(phase, "Running") != 0) ready = 0;
    fprintf(out, "%.6f %s %s %s %d %s %d\n", t, str(ev, "type"), str(md, "name"), str(md, "uid"),
            deleting, phase, ready);
    fflush(out);
    cJSON_Delete(ev);
}

static size_t onData(char *data, size_t size, size_t nmemb, void *arg)
{
    size_t n = size * nmemb, start = 0, i;
    double t = now();
    (void)arg;
    if (len + n > cap) {
        cap = (len + n) * 2;
        buf = realloc(buf, cap);
        if (!buf) return 0;
    }
    memcpy(buf + len, data, n);
    len += n;
    for (i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            emit(t, buf + start, i - start);
            start = i + 1;
        }
    }
    memmove(buf, buf + start, len - start);
    len -= start;
    return stop ? 0 : n;
}

static size_t toString(char *data, size_t size, size_t nmemb, void *arg)
{
    char **s = arg;
    size_t n = size * nmemb, old = *s ? strlen(*s) : 0;
    *s = realloc(*s, old + n + 1);
    memcpy(*s + old, data, n);
    (*s)[old + n] = '\0';
    return n;
}

static CURL *client(const char *url, const char *ca, const char *cert, const char *key)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(e, CURLOPT_SSLKEY, key);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    return e;
}

static size_t onHeader(char *data, size_t size, size_t nmemb, void *arg)
{
    (void)arg;
    if (size * nmemb > 5 && strncmp(data, "HTTP/", 5) == 0) {   /* the watch is established */
        fprintf(out, "%.6f STARTED - - - - -\n", now());
        fflush(out);
    }
    return size * nmemb;
}

static int progress(void *p, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)p; (void)a; (void)b; (void)c; (void)d;
    return stop;
}

int main(int argc, char **argv)
{
    char url[1024], *list = NULL, *rv, *end;
    CURL *e;
    if (argc != 7) {
        fprintf(stderr, "usage: kwatch API_URL CA_FILE CERT KEY NAMESPACE OUT\n");
        return 2;
    }
    signal(SIGTERM, onSignal);
    signal(SIGINT, onSignal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(url, sizeof url, "%s/api/v1/namespaces/%s/pods?limit=1", argv[1], argv[5]);
    e = client(url, argv[2], argv[3], argv[4]);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, toString);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &list);
    if (curl_easy_perform(e) != CURLE_OK || !list || !(rv = strstr(list, "\"resourceVersion\":\""))) {
        fprintf(stderr, "kwatch: cannot list pods in %s\n", argv[5]);
        return 1;
    }
    curl_easy_cleanup(e);
    rv += strlen("\"resourceVersion\":\"");
    end = strchr(rv, '"');
    if (!end) return 1;
    *end = '\0';
    out = fopen(argv[6], "w");
    if (!out) return 1;
    snprintf(url, sizeof url, "%s/api/v1/namespaces/%s/pods?watch=1&resourceVersion=%s&timeoutSeconds=3000",
             argv[1], argv[5], rv);
    e = client(url, argv[2], argv[3], argv[4]);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onData);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_perform(e);
    curl_easy_cleanup(e);
    fclose(out);
    curl_global_cleanup();
    free(list);
    return 0;
}
