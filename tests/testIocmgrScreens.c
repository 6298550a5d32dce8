/* testIocmgrScreens.c - cmocka tests of the generated Phoebus overview and
 * alarm server configuration: content, escaping, no instances, bad paths.
 * Whether every PV named exists is checked against the running IOC in
 * tests/integration/test_cluster_screens.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "iocmgrScreens.h"
#include "iocmgrAlarmConfig.h"

#define PREFIX "BL46P-CS-IOCMGR-01:"

static const char *const names[] = {"bl46p-ea-ioc-01", "bl46p-mo-ioc-01", "bl46p-di-dcam-01"};
static const char *const pvNames[] = {"BL46P-EA-IOC-01", "BL46P-MO-IOC-01", "BL46P-DI-DCAM-01"};
static const char *const domains[] = {"bl46p", "bl46p-mo", "bl46p"};

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    strcpy(fx->dir, "/tmp/testIocmgrScreens.XXXXXX");
    if (!mkdtemp(fx->dir)) return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", fx->dir, IOCMGR_OVERVIEW_FILE);
    unlink(path);
    snprintf(path, sizeof path, "%s/alarms.xml", fx->dir);
    unlink(path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long len;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int k = 0;
    for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle)) k++;
    return k;
}

static char *overview(fixture *fx, const char *prefix, const char *const *n,
                      const char *const *pv, size_t len)
{
    char err[256] = "";
    assert_int_equal(iocmgrScreensWrite(fx->dir, prefix, n, pv, len, err, sizeof err), 0);
    assert_string_equal(err, "");
    snprintf(fx->path, sizeof fx->path, "%s/%s", fx->dir, IOCMGR_OVERVIEW_FILE);
    return slurp(fx->path);
}

static void overview_embeds_one_row_per_instance(void **state)
{
    char *xml = overview(*state, PREFIX, names, pvNames, 3);
    assert_non_null(strstr(xml, "<display version=\"2.0.0\">"));
    assert_non_null(strstr(xml, "<P>" PREFIX "</P>"));
    assert_int_equal(count(xml, "<file>iocmgr-row.bob</file>"), 3);
    assert_int_equal(count(xml, "<file>iocmgr-manager.bob</file>"), 1);
    assert_non_null(strstr(xml, "<I>BL46P-DI-DCAM-01</I>"));
    assert_non_null(strstr(xml, "<NAME>bl46p-di-dcam-01</NAME>"));
    /* rows stack below the header in the manager's order */
    assert_true(strstr(xml, "bl46p-ea-ioc-01") < strstr(xml, "bl46p-mo-ioc-01"));
    assert_non_null(strstr(xml, "<y>231</y>"));  /* 10 + header 156 + 5 + 2 rows of 30 */
    assert_int_equal(count(xml, "<widget "), count(xml, "</widget>"));
    free(xml);
}

/* A spare slot (empty name): its row is there from boot, hidden while the slot
 * is free, shown once STATUS leaves Free (9); it embeds the slot's records. */
static void overview_has_hidden_rows_for_spare_slots(void **state)
{
    static const char *const n[] = {"bl46p-ea-ioc-01", ""};
    static const char *const pv[] = {"BL46P-EA-IOC-01", "SPARE_001"};
    char *xml = overview(*state, PREFIX, n, pv, 2);
    const char *slot = strstr(xml, "<name>SPARE_001</name>");
    assert_int_equal(count(xml, "<file>iocmgr-row.bob</file>"), 2);
    assert_non_null(slot);
    assert_int_equal(count(xml, "<visible>false</visible>"), 1);
    assert_true(strstr(xml, "<visible>false</visible>") > slot);
    assert_non_null(strstr(slot, "<exp bool_exp=\"pvInt0 != 9\">"));
    assert_non_null(strstr(slot, "<pv_name>$(P)SPARE_001:STATUS</pv_name>"));
    assert_non_null(strstr(slot, "<I>SPARE_001</I>"));
    assert_non_null(strstr(slot, "<NAME>the instance in spare slot SPARE_001</NAME>"));
    free(xml);
}

static void overview_escapes_xml(void **state)
{
    static const char *const odd[] = {"a<b>&\"c'"};
    char *xml = overview(*state, "P&<Q>:", odd, odd, 1);
    assert_non_null(strstr(xml, "<P>P&amp;&lt;Q&gt;:</P>"));
    assert_non_null(strstr(xml, "<NAME>a&lt;b&gt;&amp;&quot;c&apos;</NAME>"));
    assert_null(strstr(xml, "a<b"));
    free(xml);
}

static void overview_without_instances_says_so(void **state)
{
    char *xml = overview(*state, PREFIX, NULL, NULL, 0);
    assert_int_equal(count(xml, "<file>iocmgr-row.bob</file>"), 0);
    assert_non_null(strstr(xml, "No IOC instances"));
    assert_non_null(strstr(xml, "</display>"));
    free(xml);
}

static void overview_bad_dir_gives_message(void **state)
{
    char err[256] = "";
    (void)state;
    assert_int_equal(iocmgrScreensWrite("/nonexistent/opi", PREFIX, names, pvNames, 3, err,
                                        sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/opi/iocmgr-overview.bob"));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_int_equal(iocmgrScreensWrite(NULL, PREFIX, names, pvNames, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "directory"));
}

static void overview_replaces_the_old_file_whole(void **state)
{
    fixture *fx = *state;
    char tmp[160];
    free(overview(fx, PREFIX, names, pvNames, 3));
    free(overview(fx, PREFIX, names, pvNames, 1));
    snprintf(tmp, sizeof tmp, "%s.tmp", fx->path);
    assert_int_equal(access(tmp, F_OK), -1);
    {
        char *xml = slurp(fx->path);
        assert_int_equal(count(xml, "<file>iocmgr-row.bob</file>"), 1);
        free(xml);
    }
}

static char *alarms(fixture *fx, const char *prefix, const char *const *n,
                    const char *const *pv, const char *const *d, size_t len)
{
    char err[256] = "";
    snprintf(fx->path, sizeof fx->path, "%s/alarms.xml", fx->dir);
    assert_int_equal(iocmgrAlarmConfigWrite(fx->path, "BL46P", prefix, n, pv, d, len, err,
                                            sizeof err), 0);
    return slurp(fx->path);
}

/* The configuration written at boot covers the slots: an instance bound later
 * raises its alarm without a re-import. */
static void alarms_cover_spare_slots(void **state)
{
    static const char *const n[] = {"bl46p-ea-ioc-01", "", ""};
    static const char *const pv[] = {"BL46P-EA-IOC-01", "SPARE_001", "SPARE_002"};
    static const char *const d[] = {"bl46p", "spare-slots", "spare-slots"};
    char *xml = alarms(*state, PREFIX, n, pv, d, 3);
    assert_int_equal(count(xml, "<component name=\"spare-slots\">"), 1);
    assert_non_null(strstr(xml, "<component name=\"SPARE_002\">"));
    assert_non_null(strstr(xml, "<pv name=\"" PREFIX "SPARE_001:STATUS\">"));
    assert_non_null(strstr(xml, "<pv name=\"" PREFIX "SPARE_001:ALIVE\">"));
    assert_non_null(strstr(xml, "instance in spare slot SPARE_001 (name: " PREFIX "SPARE_001:NAME): not running"));
    assert_int_equal(count(xml, ":STATUS\">"), 3);
    free(xml);
}

static void alarms_group_instances_by_domain(void **state)
{
    char *xml = alarms(*state, PREFIX, names, pvNames, domains, 3);
    const char *bl46p = strstr(xml, "<component name=\"bl46p\">");
    const char *mo = strstr(xml, "<component name=\"bl46p-mo\">");
    assert_non_null(strstr(xml, "<config name=\"BL46P\">"));
    assert_non_null(strstr(xml, "<pv name=\"" PREFIX "CONNECTED\">"));
    assert_int_equal(count(xml, "<component name=\"bl46p\">"), 1);
    assert_non_null(bl46p);
    assert_non_null(mo);
    /* the dcam instance sits with ea-ioc-01 in bl46p, before the bl46p-mo domain */
    assert_true(strstr(xml, PREFIX "BL46P-DI-DCAM-01:STATUS") < mo);
    assert_true(strstr(xml, PREFIX "BL46P-MO-IOC-01:STATUS") > mo);
    assert_int_equal(count(xml, ":STATUS\">"), 3);
    assert_int_equal(count(xml, ":ALIVE\">"), 3);
    /* one alarm per fault: the Argo CD PVs repeat what STATUS alarms on */
    assert_null(strstr(xml, ":HEALTH\">"));
    assert_null(strstr(xml, ":OVERRIDE\">"));
    assert_null(strstr(xml, "SYNC\">"));  /* nor the root's on the manager */
    assert_int_equal(count(xml, "<enabled>true</enabled>"), 7);
    assert_int_equal(count(xml, "<latching>false</latching>"), 7);
    assert_int_equal(count(xml, "<guidance>"), 7);
    assert_int_equal(count(xml, "<component "), count(xml, "</component>"));
    free(xml);
}

static void alarms_guidance_names_the_pvs_to_read(void **state)
{
    char *xml = alarms(*state, PREFIX, names, pvNames, domains, 3);
    assert_non_null(strstr(xml, "Read " PREFIX "LAST_ERROR"));
    assert_non_null(strstr(xml, PREFIX "BL46P-EA-IOC-01:MESSAGE says why"));
    assert_non_null(strstr(xml, "on BL46P-MO-IOC-01:UPTIME"));
    assert_non_null(strstr(xml, "CrashLoop"));
    assert_non_null(strstr(xml, "Absent"));
    assert_non_null(strstr(xml, PREFIX "BL46P-EA-IOC-01:SYNC_MSG show"));
    assert_null(strstr(xml, "$("));
    free(xml);
}

static void alarms_without_domains_or_instances(void **state)
{
    char *xml = alarms(*state, PREFIX, names, pvNames, NULL, 3);
    assert_int_equal(count(xml, "<component name=\"other\">"), 1);
    free(xml);
    xml = alarms(*state, PREFIX, NULL, NULL, NULL, 0);
    assert_non_null(strstr(xml, "CONNECTED"));
    assert_null(strstr(xml, ":STATUS"));
    free(xml);
}

static void alarms_escape_xml(void **state)
{
    static const char *const odd[] = {"x\"y"};
    static const char *const dom[] = {"<d&>"};
    char *xml = alarms(*state, "P<&>:", odd, odd, dom, 1);
    assert_non_null(strstr(xml, "<component name=\"&lt;d&amp;&gt;\">"));
    assert_non_null(strstr(xml, "<pv name=\"P&lt;&amp;&gt;:x&quot;y:STATUS\">"));
    assert_null(strstr(xml, "<&"));
    free(xml);
}

static void alarms_bad_path_gives_message(void **state)
{
    char err[256] = "";
    (void)state;
    assert_int_equal(iocmgrAlarmConfigWrite("/nonexistent/alarms.xml", "BL46P", PREFIX, names,
                                            pvNames, domains, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/alarms.xml"));
    assert_int_equal(iocmgrAlarmConfigWrite("/tmp/x.xml", "", PREFIX, names, pvNames, domains,
                                            3, err, sizeof err), -1);
    assert_non_null(strstr(err, "config name"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(overview_embeds_one_row_per_instance, setup, teardown),
        cmocka_unit_test_setup_teardown(overview_has_hidden_rows_for_spare_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(overview_escapes_xml, setup, teardown),
        cmocka_unit_test_setup_teardown(alarms_cover_spare_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(overview_without_instances_says_so, setup, teardown),
        cmocka_unit_test_setup_teardown(overview_bad_dir_gives_message, setup, teardown),
        cmocka_unit_test_setup_teardown(overview_replaces_the_old_file_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(alarms_group_instances_by_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(alarms_guidance_names_the_pvs_to_read, setup, teardown),
        cmocka_unit_test_setup_teardown(alarms_without_domains_or_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(alarms_escape_xml, setup, teardown),
        cmocka_unit_test_setup_teardown(alarms_bad_path_gives_message, setup, teardown),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("iocmgrScreens", tests, NULL, NULL);
}
