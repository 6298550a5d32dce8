/* k8sImageRef.c - OCI image reference validation; see k8sImageRef.h */
#include <stdio.h>
#include <string.h>
#include <ctype.h>

#include "k8sImageRef.h"

static int isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static int isWord(char c) { return isalnum((unsigned char)c) || c == '_'; }

static int fail(char *err, size_t errlen, const char *ref, const char *why)
{
    snprintf(err, errlen, "invalid image reference \"%.200s\": %s", ref, why);
    return -1;
}

/* host[:port]: DNS-ish labels separated by '.', or a bracketed IPv6 literal. */
static int validRegistry(const char *s, size_t n)
{
    size_t i = 0, hostEnd;

    if (n == 0)
        return 0;
    if (s[0] == '[') {
        /* Hex digits and ':', at least one: the distribution grammar
         * (\[[a-fA-F0-9:]+\]) that containerd parses references with. "[]" and
         * "[e8:[]" were accepted here (found by tests/fuzz); so was IPv4-mapped
         * "[::ffff:1.2.3.4]", which that grammar leaves out too. */
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':')
                return 0;
        if (i == n || i == 1)
            return 0;
        hostEnd = ++i;
    } else {
        size_t labelStart = 0;
        for (; i < n && s[i] != ':'; i++) {
            char c = s[i];
            if (c == '.') {
                if (i == labelStart || s[i - 1] == '-')
                    return 0;
                labelStart = i + 1;
            } else if (c == '-') {
                if (i == labelStart)
                    return 0;
            } else if (!isalnum((unsigned char)c)) {
                return 0;
            }
        }
        if (i == labelStart || s[i - 1] == '-')
            return 0;
        hostEnd = i;
    }
    if (hostEnd == n)
        return 1;
    if (s[hostEnd] != ':' || hostEnd + 1 == n)
        return 0;
    for (i = hostEnd + 1; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* alnum+ (separator alnum+)* where separator is '.', '_', '__' or '-'+ */
static int validPathComponent(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !isLowerAlnum(s[0]) || !isLowerAlnum(s[n - 1]))
        return 0;
    while (i < n) {
        if (isLowerAlnum(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return 0;
        }
        if (i >= n || !isLowerAlnum(s[i]))
            return 0;
    }
    return 1;
}

int k8sImageRefValidate(const char *ref, char *err, size_t errlen)
{
    const char *at, *nameEnd, *tag = NULL, *p, *lastSlash, *firstSlash;
    size_t len, nameLen, i;

    if (!ref || !*ref)
        return fail(err, errlen, "", "empty");
    len = strlen(ref);
    for (i = 0; i < len; i++)
        if (isspace((unsigned char)ref[i]) || !isprint((unsigned char)ref[i]))
            return fail(err, errlen, ref, "contains whitespace or control characters");

    at = strchr(ref, '@');
    nameEnd = at ? at : ref + len;
    if (at) {
        const char *d = at + 1;
        if (strncmp(d, "sha256:", 7) != 0)
            return fail(err, errlen, ref, "digest must be sha256:<64 hex digits>");
        d += 7;
        if (strlen(d) != 64)
            return fail(err, errlen, ref, "sha256 digest must have exactly 64 hex digits");
        for (i = 0; i < 64; i++)
            if (!isdigit((unsigned char)d[i]) && !(d[i] >= 'a' && d[i] <= 'f'))
                return fail(err, errlen, ref, "sha256 digest must be lowercase hex");
    }

    /* A ':' after the last '/' starts the tag; earlier ones belong to a registry port. */
    lastSlash = NULL;
    for (p = ref; p < nameEnd; p++)
        if (*p == '/')
            lastSlash = p;
    for (p = lastSlash ? lastSlash + 1 : ref; p < nameEnd; p++)
        if (*p == ':') {
            tag = p + 1;
            break;
        }
    if (tag) {
        size_t tlen = (size_t)(nameEnd - tag);
        if (tlen == 0)
            return fail(err, errlen, ref, "empty tag after ':'");
        if (tlen > 128)
            return fail(err, errlen, ref, "tag longer than 128 characters");
        if (!isWord(tag[0]))
            return fail(err, errlen, ref, "tag must start with a letter, digit or '_'");
        for (i = 1; i < tlen; i++)
            if (!isWord(tag[i]) && tag[i] != '.' && tag[i] != '-')
                return fail(err, errlen, ref, "tag may only contain letters, digits, '_', '.' and '-'");
        nameEnd = tag - 1;
    }
    if (!tag && !at)
        return fail(err, errlen, ref, "needs a :tag or @sha256: digest (a bare name means :latest)");

    nameLen = (size_t)(nameEnd - ref);
    if (nameLen == 0)
        return fail(err, errlen, ref, "missing repository name");
    if (nameLen > 255)
        return fail(err, errlen, ref, "repository name longer than 255 characters");

    p = ref;
    firstSlash = memchr(ref, '/', nameLen);
    if (firstSlash) {
        size_t flen = (size_t)(firstSlash - ref);
        int isRegistry = memchr(ref, '.', flen) || memchr(ref, ':', flen) ||
                         (flen == 9 && strncmp(ref, "localhost", 9) == 0);
        if (isRegistry) {
            if (!validRegistry(ref, flen))
                return fail(err, errlen, ref, "invalid registry host[:port]");
            p = firstSlash + 1;
            /* "ghcr.io/:1" names a registry and no repository; the component
             * loop below would see nothing to refuse (found by tests/fuzz) */
            if (p == nameEnd)
                return fail(err, errlen, ref, "missing repository name after the registry");
        }
    }
    while (p < nameEnd) {
        const char *slash = memchr(p, '/', (size_t)(nameEnd - p));
        const char *end = slash ? slash : nameEnd;
        if (!validPathComponent(p, (size_t)(end - p))) {
            for (i = 0; p + i < end; i++)
                if (isupper((unsigned char)p[i]))
                    return fail(err, errlen, ref, "repository path must be lowercase");
            return fail(err, errlen, ref,
                        "invalid repository path component (lowercase letters and digits, "
                        "separated by '.', '_', '__' or '-')");
        }
        if (slash && slash + 1 == nameEnd)
            return fail(err, errlen, ref, "repository path ends with '/'");
        p = slash ? slash + 1 : nameEnd;
    }
    return 0;
}
