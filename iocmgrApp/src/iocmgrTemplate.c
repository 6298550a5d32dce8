/* iocmgrTemplate.c - the record names of a template (iocmgrTemplate.h).
 *
 * A small reader of the database syntax, enough for names: comments (#),
 * quoted strings with escapes, record(type, name) / grecord(...), and
 * alias(name) inside a record or alias(record, name) outside. Anything else
 * (fields, info, include) is skipped: an include'd file's names are not
 * checked, and dbLoadRecords still refuses them if they are too long.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <macLib.h>

#include "iocmgrTemplate.h"

struct iocmgrTemplate {
    char **names;
    size_t count, cap;
};

static int addName(iocmgrTemplate *t, const char *s, size_t n)
{
    char *copy;
    if (t->count == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        char **names = realloc(t->names, cap * sizeof *names);
        if (!names) return -1;
        t->names = names;
        t->cap = cap;
    }
    copy = malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->names[t->count++] = copy;
    return 0;
}

static const char *skipSpace(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (*p != '#') return p;
        while (*p && *p != '\n') p++;
    }
}

/* One argument: a quoted string (escapes kept) or a bare word. */
static const char *argument(const char *p, const char **start, size_t *len)
{
    p = skipSpace(p);
    if (*p == '"') {
        *start = ++p;
        while (*p && *p != '"') p += (*p == '\\' && p[1]) ? 2 : 1;
        *len = (size_t)(p - *start);
        return *p ? p + 1 : p;
    }
    *start = p;
    while (*p && !isspace((unsigned char)*p) && *p != ',' && *p != ')') p++;
    *len = (size_t)(p - *start);
    return p;
}

/* After "keyword(": the arguments up to ')'; their count, at most max kept. */
static const char *arguments(const char *p, const char **args, size_t *lens, size_t max, size_t *count)
{
    *count = 0;
    for (;;) {
        const char *a;
        size_t n;
        p = argument(p, &a, &n);
        if (*count < max) {
            args[*count] = a;
            lens[*count] = n;
        }
        (*count)++;
        p = skipSpace(p);
        if (*p != ',') break;
        p++;
    }
    return *p == ')' ? p + 1 : p;
}

static int keyword(const char *p, const char *word, const char **after)
{
    size_t n = strlen(word);
    if (strncmp(p, word, n) != 0 || isalnum((unsigned char)p[n]) || p[n] == '_') return 0;
    p = skipSpace(p + n);
    if (*p != '(') return 0;
    *after = p + 1;
    return 1;
}

static int parse(iocmgrTemplate *t, const char *text)
{
    const char *p = text, *after, *args[2];
    size_t lens[2], count;
    int depth = 0;           /* inside a record's braces */

    while (*(p = skipSpace(p))) {
        if (*p == '"') {
            const char *a;
            size_t n;
            p = argument(p, &a, &n);
        } else if (*p == '{') {
            depth++;
            p++;
        } else if (*p == '}') {
            if (depth) depth--;
            p++;
        } else if (keyword(p, "record", &after) || keyword(p, "grecord", &after)) {
            p = arguments(after, args, lens, 2, &count);
            if (count >= 2 && addName(t, args[1], lens[1])) return -1;
        } else if (keyword(p, "alias", &after)) {
            p = arguments(after, args, lens, 2, &count);
            if (count >= 1 && addName(t, args[count >= 2 ? 1 : 0], lens[count >= 2 ? 1 : 0])) return -1;
        } else {
            p++;
        }
    }
    return 0;
}

static FILE *openAlongPath(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    const char *dirs = getenv("EPICS_DB_INCLUDE_PATH");
    int first = errno;

    while (!f && !strchr(path, '/') && dirs && *dirs) {
        const char *colon = strchr(dirs, ':');
        size_t n = colon ? (size_t)(colon - dirs) : strlen(dirs);
        char full[4096];
        snprintf(full, sizeof full, "%.*s/%s", (int)n, dirs, path);
        f = fopen(full, "r");
        dirs = colon ? colon + 1 : "";
    }
    if (!f) snprintf(err, errlen, "cannot read %s: %s", path, strerror(first));
    return f;
}

int iocmgrTemplateRead(const char *path, iocmgrTemplate **out, char *err, size_t errlen)
{
    FILE *f;
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    iocmgrTemplate *t;

    *out = NULL;
    if (!(f = openAlongPath(path, err, errlen))) return -1;
    do {
        if (cap - len < 4096) {
            char *more = realloc(text, cap += 65536);
            if (!more) break;
            text = more;
        }
        n = fread(text + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    t = calloc(1, sizeof *t);
    if (!text || !t) {
        free(text);
        free(t);
        snprintf(err, errlen, "reading %s: out of memory", path);
        return -1;
    }
    text[len] = '\0';
    if (parse(t, text) != 0) {
        free(text);
        iocmgrTemplateFree(t);
        snprintf(err, errlen, "reading %s: out of memory", path);
        return -1;
    }
    free(text);
    *out = t;
    return 0;
}

void iocmgrTemplateFree(iocmgrTemplate *t)
{
    size_t i;
    if (!t) return;
    for (i = 0; i < t->count; i++) free(t->names[i]);
    free(t->names);
    free(t);
}

size_t iocmgrTemplateNameCount(const iocmgrTemplate *t) { return t ? t->count : 0; }

size_t iocmgrTemplateLongest(const iocmgrTemplate *t, const char *macros, char *longest, size_t len)
{
    MAC_HANDLE *mac;
    char **pairs = NULL;
    char name[1024];
    size_t i, best = 0;

    if (len) longest[0] = '\0';
    if (!t || !t->count || macCreateHandle(&mac, NULL) != 0) return 0;
    macSuppressWarning(mac, 1);
    if (macParseDefns(mac, macros ? macros : "", &pairs) >= 0)
        macInstallMacros(mac, pairs);
    for (i = 0; i < t->count; i++) {
        size_t l;
        macExpandString(mac, t->names[i], name, sizeof name);
        l = strlen(name);
        if (l > best) {
            best = l;
            if (len) snprintf(longest, len, "%s", name);
        }
    }
    free(pairs);
    macDeleteHandle(mac);
    return best;
}
