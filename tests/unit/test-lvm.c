/* The LVM report parser (lib/lvm.h) on reports captured in the installer initramfs
 * (tests/fixtures/devstate/README.md). */
#include <stdlib.h>

#include "lvm.h"
#include "test.h"

static lf_lvm_report *load(const char *name, const char *section) {
        char path[256];
        snprintf(path, sizeof(path), "tests/fixtures/lvm/%s", name);
        char *buf = lf_test_read_file(path);
        lf_diag diag = {0};
        lf_lvm_report *r = NULL;
        int ret = lf_lvm_report_parse(name, buf, strlen(buf), section, &diag, &r);
        free(buf);
        if (ret < 0)
                lf_test_fail(__FILE__, __LINE__, "%s: %s", name, diag.n ? diag.msgs[0] : "?");
        return r;
}

TEST(pvs_report) {
        lf_lvm_report *r = load("pvs.json", "pv");

        ASSERT_EQ(r->n_rows, 2);
        ASSERT_STREQ(lf_lvm_row_get(&r->rows[0], "pv_name"), "/dev/md126");
        ASSERT_STREQ(lf_lvm_row_get(&r->rows[0], "vg_name"), "labvg");
        ASSERT_STREQ(lf_lvm_row_get(&r->rows[0], "pv_tags"), "bulk");
        ASSERT_STREQ(lf_lvm_row_get(&r->rows[1], "vg_uuid"),
                     "jDrHvb-3igC-cPTv-TsVK-Klku-WvZw-hvpGMZ");
        ASSERT_TRUE(lf_lvm_row_get(&r->rows[1], "lv_name") == NULL);
        lf_lvm_report_free(r);
}

TEST(pvs_duplicate_vg_names) {
        lf_lvm_report *r = load("pvs-dup.json", "pv");

        ASSERT_EQ(r->n_rows, 3);
        /* Two VGs named labvg, told apart by UUID; a PV LVM cannot find is "[unknown]". */
        ASSERT_STREQ(lf_lvm_row_get(&r->rows[1], "vg_name"), "labvg");
        ASSERT_STREQ(lf_lvm_row_get(&r->rows[1], "vg_uuid"),
                     "djgvAM-JkjI-BSMX-opQd-phje-Ar5R-PqcVf9");
        ASSERT_STREQ(lf_lvm_row_get(&r->rows[2], "pv_name"), "[unknown]");
        lf_lvm_report_free(r);
}

TEST(lvs_report) {
        lf_lvm_report *r = load("lvs.json", "lv");
        char **devs = NULL;

        ASSERT_EQ(r->n_rows, 1);
        ASSERT_STREQ(lf_lvm_row_get(&r->rows[0], "lv_size"), "8313110528");
        ASSERT_EQ(lf_lvm_devices_split(lf_lvm_row_get(&r->rows[0], "devices"), &devs), 0);
        ASSERT_STREQ(devs[0], "/dev/md127");
        ASSERT_TRUE(devs[1] == NULL);
        strv_free(devs);
        lf_lvm_report_free(r);
        /* The section asked for is the one returned: no "lv" rows in a pvs report. */
        r = load("pvs.json", "lv");
        ASSERT_EQ(r->n_rows, 0);
        lf_lvm_report_free(r);
}

TEST(lvm_helpers) {
        char **devs = NULL;

        ASSERT_TRUE(lf_lvm_list_has("fast,bulk", "bulk"));
        ASSERT_TRUE(lf_lvm_list_has("fast", "fast"));
        ASSERT_TRUE(!lf_lvm_list_has("fastest", "fast"));
        ASSERT_TRUE(!lf_lvm_list_has("", "fast"));
        ASSERT_EQ(lf_lvm_devices_split("/dev/md127(0),/dev/sdb1(1200)", &devs), 0);
        ASSERT_STREQ(devs[1], "/dev/sdb1");
        ASSERT_TRUE(devs[2] == NULL);
        strv_free(devs);
        ASSERT_EQ(lf_lvm_devices_split("", &devs), 0);
        ASSERT_TRUE(devs[0] == NULL);
        strv_free(devs);
        ASSERT_EQ(lf_lvm_devices_split("/dev/sda", &devs), -EINVAL);
        ASSERT_EQ(lf_lvm_devices_split("/dev/sda(x)", &devs), -EINVAL);
        ASSERT_EQ(lf_lvm_devices_split("/dev/sda(0),", &devs), -EINVAL);
}

TEST(lvm_report_errors) {
        lf_diag diag = {0};
        lf_lvm_report *r = NULL;
        const char *bad[] = {
                "",
                "[]",
                "{\"report\": [{\"pv\": {}}]}",
                "{\"report\": [{\"pv\": [{\"pv_name\": [1]}]}]}",
                "{\"nothing\": []}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_EQ(lf_lvm_report_parse("pvs", bad[i], strlen(bad[i]), "pv", &diag, &r),
                          -EINVAL);
        ASSERT_EQ(diag.n, ELEMENTSOF(bad));
        ASSERT_CONTAINS(diag.msgs[3], "report[0].pv[0].pv_name: expected a string");
        lf_diag_clear(&diag);
}
