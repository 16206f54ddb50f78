/* The install journal (installer/journal.h): its text form both ways, torn appends after a
 * power cut, and journals that must not be trusted. */
#include <stdlib.h>
#include <sys/stat.h>

#include "../../installer/journal.h"
#include "test.h"

static const char TEXT[] = "labforge-install journal 1\n"
                           "key plan=abc image=-\n"
                           "disk /dev/sda 8A1348C6-6AEA-154E-9A02-89DF54E3E25B\n"
                           "array /dev/md/fast b4ee8463:53c11f2a:1fe808aa:2472bc6e\n"
                           "step disks\n"
                           "step extract\n";

TEST(round_trip) {
        lf_journal *j = NULL;

        ASSERT_EQ(lf_journal_parse(TEXT, &j), 0);
        ASSERT_STREQ(j->key, "plan=abc image=-");
        ASSERT_STREQ(lf_journal_get(j, "disk", "/dev/sda"), "8A1348C6-6AEA-154E-9A02-89DF54E3E25B");
        ASSERT_TRUE(lf_journal_get(j, "disk", "/dev/sdb") == NULL);
        ASSERT_TRUE(lf_journal_get(j, "array", "/dev/sda") == NULL);
        ASSERT_TRUE(lf_journal_has_step(j, "disks"));
        ASSERT_TRUE(lf_journal_has_step(j, "extract"));
        ASSERT_TRUE(!lf_journal_has_step(j, "bootloader"));
        char *text = lf_journal_format(j);
        ASSERT_STREQ(text, TEXT);
        free(text);
        lf_journal_free(j);
}

TEST(build_and_replace) {
        lf_journal *j = lf_journal_new("plan=x image=y");

        ASSERT_TRUE(j != NULL);
        ASSERT_EQ(lf_journal_set(j, "fs", "/dev/sda3", "u1"), 0);
        ASSERT_EQ(lf_journal_set(j, "fs", "/dev/sda3", "u2"), 0);
        ASSERT_EQ(j->n_records, 1);
        ASSERT_STREQ(lf_journal_get(j, "fs", "/dev/sda3"), "u2");
        ASSERT_EQ(lf_journal_set(j, "fs", "/dev/sda 3", "u"), -EINVAL);
        ASSERT_EQ(lf_journal_set(j, "step", "x", "u"), -EINVAL);
        ASSERT_EQ(lf_journal_set(j, "fs", "/dev/sda4", ""), -EINVAL);
        ASSERT_EQ(lf_journal_add_step(j, "disks"), 0);
        ASSERT_EQ(lf_journal_add_step(j, "disks"), 0);
        ASSERT_EQ(j->n_steps, 1);
        ASSERT_EQ(lf_journal_add_step(j, "two words"), -EINVAL);
        lf_journal_free(j);
        ASSERT_TRUE(lf_journal_new("") == NULL);
        ASSERT_TRUE(lf_journal_new("a\nb") == NULL);
}

/* A power cut during an append leaves a line without its newline: that step did not finish. */
TEST(torn_append) {
        lf_journal *j = NULL;
        char *text = NULL;

        ASSERT_TRUE(asprintf(&text, "%sstep initra", TEXT) > 0);
        ASSERT_EQ(lf_journal_parse(text, &j), 0);
        ASSERT_TRUE(lf_journal_has_step(j, "extract"));
        ASSERT_TRUE(!lf_journal_has_step(j, "initra"));
        ASSERT_EQ(j->n_steps, 2);
        lf_journal_free(j);
        free(text);
}

TEST(untrusted) {
        const char *bad[] = {
                "",
                "labforge-install journal 2\nkey k\n",             /* unknown version */
                "labforge-install journal 1\n",                    /* no key */
                "labforge-install journal 1\nstep disks\nkey k\n", /* key not first */
                "labforge-install journal 1\nkey k\nkey k\n",
                "labforge-install journal 1\nkey k\ndisk /dev/sda\n",
                "labforge-install journal 1\nkey k\ndisk /dev/sda a b\n",
                "labforge-install journal 1\nkey k\ndisk /dev/sda a\ndisk /dev/sda b\n",
                "labforge-install journal 1\nkey k\nstep\n",
                "labforge-install journal 1\nkey k\n\n",
                "labforge-install journal 1\nkey k\nstep a\tb\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                lf_journal *j = NULL;
                if (lf_journal_parse(bad[i], &j) != -EBADMSG)
                        lf_test_fail(__FILE__, __LINE__, "trusted: %s", bad[i]);
        }
}

TEST(save_and_append) {
        char path[512];
        lf_journal *j = lf_journal_new("plan=p image=-"), *back = NULL;
        struct stat st;

        snprintf(path, sizeof(path), "%s/journal", lf_test_tmpdir());
        ASSERT_EQ(lf_journal_set(j, "vg", "labvg", "jDrHvb-3igC"), 0);
        ASSERT_EQ(lf_journal_add_step(j, "disks"), 0);
        ASSERT_EQ(lf_journal_save(j, path), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mode & 0777, 0600);
        ASSERT_EQ(lf_journal_append_step(j, path, "extract"), 0);
        ASSERT_TRUE(lf_journal_has_step(j, "extract"));
        char *text = lf_test_read_file(path);
        ASSERT_STREQ(text, "labforge-install journal 1\nkey plan=p image=-\nvg labvg jDrHvb-3igC\n"
                           "step disks\nstep extract\n");
        ASSERT_EQ(lf_journal_parse(text, &back), 0);
        ASSERT_TRUE(lf_journal_has_step(back, "extract"));
        free(text);
        lf_journal_free(back);
        lf_journal_free(j);
}
