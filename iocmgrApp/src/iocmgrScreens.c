/* iocmgrScreens.c - write the Phoebus overview of the instances known at boot
 * and of the spare slots (rows hidden while free).
 *
 * Only the list of rows depends on the instance set; every widget lives in the
 * static screens (opi/iocmgr-manager.bob, opi/iocmgr-row.bob) so a screen
 * designer edits those in Phoebus and this file stays a layout loop.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iocmgrScreens.h"

static const char *driverName = "iocmgrScreens";

/* Geometry shared with opi/iocmgr-manager.bob (header, with the column
 * titles at its bottom) and opi/iocmgr-row.bob (one instance). */
enum {
    MARGIN = 10,
    WIDTH = 1220,
    HEADER_HEIGHT = 156,
    ROW_HEIGHT = 30,
    ROWS_Y = MARGIN + HEADER_HEIGHT + 5
};

void iocmgrXmlPut(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':  fputs("&amp;", f); break;
        case '<':  fputs("&lt;", f); break;
        case '>':  fputs("&gt;", f); break;
        case '"':  fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:   fputc(*s, f);
        }
    }
}

FILE *iocmgrXmlBegin(const char *path, char *tmp, size_t tmpLen, char *err, size_t errlen)
{
    FILE *f;
    if ((size_t)snprintf(tmp, tmpLen, "%s.tmp", path) >= tmpLen) {
        snprintf(err, errlen, "%s: path too long: %s", driverName, path);
        return NULL;
    }
    f = fopen(tmp, "w");
    if (!f)
        snprintf(err, errlen, "%s: cannot write %s: %s", driverName, tmp, strerror(errno));
    return f;
}

int iocmgrXmlCommit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        snprintf(err, errlen, "%s: cannot write %s: %s", driverName, tmp,
                 bad ? "write error" : strerror(errno));
        remove(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot rename %s to %s: %s", driverName, tmp, path,
                 strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static void geometry(FILE *f, int x, int y, int w, int h)
{
    fprintf(f, "    <x>%d</x>\n    <y>%d</y>\n    <width>%d</width>\n    <height>%d</height>\n",
            x, y, w, h);
}

/* A spare slot's row is there from boot but hidden while the slot is free
 * (STATUS Free, state 9): it shows once an instance is bound to the slot, and
 * its Name reads the slot's NAME. */
static void hiddenWhileFree(FILE *f, const char *pvName)
{
    fputs("    <visible>false</visible>\n    <rules>\n"
          "      <rule name=\"Shown once an instance is bound to the slot\" prop_id=\"visible\" out_exp=\"false\">\n"
          "        <exp bool_exp=\"pvInt0 != 9\">\n          <value>true</value>\n        </exp>\n"
          "        <pv_name>$(P)", f);
    iocmgrXmlPut(f, pvName);
    fputs(":STATUS</pv_name>\n      </rule>\n    </rules>\n", f);
}

static void embedded(FILE *f, const char *widgetName, const char *file, const char *name,
                     const char *pvName, int y, int h)
{
    fputs("  <widget type=\"embedded\" version=\"2.0.0\">\n    <name>", f);
    iocmgrXmlPut(f, widgetName);
    fprintf(f, "</name>\n    <file>%s</file>\n", file);
    if (name && !name[0]) hiddenWhileFree(f, pvName);
    if (name) {
        fputs("    <macros>\n      <I>", f);
        iocmgrXmlPut(f, pvName);
        fputs("</I>\n      <NAME>", f);
        if (name[0]) {
            iocmgrXmlPut(f, name);
        } else {
            fputs("the instance in spare slot ", f);
            iocmgrXmlPut(f, pvName);
        }
        fputs("</NAME>\n    </macros>\n", f);
    }
    geometry(f, MARGIN, y, WIDTH, h);
    fputs("    <transparent>true</transparent>\n  </widget>\n", f);
}

static void noInstances(FILE *f)
{
    fputs("  <widget type=\"label\" version=\"2.0.0\">\n"
          "    <name>No instances</name>\n"
          "    <text>No IOC instances were found at boot. Deploy one (ec deploy / helm), "
          "then write 1 to $(P)REBOOT so the manager restarts with it.</text>\n", f);
    geometry(f, MARGIN, ROWS_Y, WIDTH, ROW_HEIGHT);
    fputs("  </widget>\n", f);
}

int iocmgrScreensWrite(const char *dir, const char *prefix, const char *const *names,
                       const char *const *pvNames, size_t n, char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    FILE *f;
    size_t i;

    if (!dir || !*dir || !prefix || (n && (!names || !pvNames))) {
        snprintf(err, errlen, "%s: needs a directory, a prefix and the instance names",
                 driverName);
        return -1;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, IOCMGR_OVERVIEW_FILE) >= sizeof path) {
        snprintf(err, errlen, "%s: directory name too long: %s", driverName, dir);
        return -1;
    }
    if (!(f = iocmgrXmlBegin(path, tmp, sizeof tmp, err, errlen)))
        return -1;

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<!-- Generated by iocmgr at boot for the instances it manages: edit\n"
          "     iocmgr-manager.bob and iocmgr-row.bob instead. -->\n"
          "<display version=\"2.0.0\">\n  <name>IOC instances ", f);
    iocmgrXmlPut(f, prefix);
    fputs("</name>\n  <macros>\n    <P>", f);
    iocmgrXmlPut(f, prefix);
    fputs("</P>\n  </macros>\n", f);
    fprintf(f, "  <width>%d</width>\n  <height>%d</height>\n", WIDTH + 2 * MARGIN,
            ROWS_Y + ROW_HEIGHT * (int)(n ? n : 1) + MARGIN);

    embedded(f, "Manager", "iocmgr-manager.bob", NULL, NULL, MARGIN, HEADER_HEIGHT);
    for (i = 0; i < n; i++) {
        if (!names[i] || !pvNames[i] || !pvNames[i][0]) {
            fclose(f);
            remove(tmp);
            snprintf(err, errlen, "%s: instance %lu has no name", driverName, (unsigned long)i);
            return -1;
        }
        embedded(f, names[i][0] ? names[i] : pvNames[i], "iocmgr-row.bob", names[i], pvNames[i],
                 ROWS_Y + ROW_HEIGHT * (int)i, ROW_HEIGHT);
    }
    if (n == 0)
        noInstances(f);
    fputs("</display>\n", f);
    return iocmgrXmlCommit(f, tmp, path, err, errlen);
}
