/* Parsers of what the kernel and the block tools report (installer/devstate.h), on output
 * captured in the installer initramfs (tests/fixtures/devstate/README.md). */
#include <stdlib.h>

#include "../../installer/devstate.h"
#include "test.h"

static char *fixture(const char *name) {
        char path[256];
        snprintf(path, sizeof(path), "tests/fixtures/devstate/%s", name);
        return lf_test_read_file(path);
}

TEST(mdstat_active) {
        char *buf = fixture("mdstat-active.txt");
        lf_diag diag = {0};
        lf_mdstat *m = NULL;

        ASSERT_EQ(lf_mdstat_parse("mdstat", buf, &diag, &m), 0);
        ASSERT_EQ(m->n_arrays, 2);
        ASSERT_STREQ(m->arrays[0].name, "md126");
        ASSERT_TRUE(m->arrays[0].active);
        ASSERT_STREQ(m->arrays[0].level, "raid0");
        ASSERT_EQ(m->arrays[0].n_members, 2);
        ASSERT_STREQ(m->arrays[0].members[0], "sdd1");
        ASSERT_STREQ(m->arrays[0].members[1], "sdb1");
        ASSERT_STREQ(m->arrays[1].name, "md127");
        ASSERT_STREQ(m->arrays[1].members[1], "sda4");
        ASSERT_TRUE(m->arrays[1].members[2] == NULL);
        lf_mdstat_free(m);
        free(buf);
}

TEST(mdstat_inactive) {
        char *buf = fixture("mdstat-inactive.txt");
        lf_diag diag = {0};
        lf_mdstat *m = NULL;

        ASSERT_EQ(lf_mdstat_parse("mdstat", buf, &diag, &m), 0);
        ASSERT_EQ(m->n_arrays, 2);
        ASSERT_STREQ(m->arrays[0].name, "md125");
        ASSERT_TRUE(!m->arrays[0].active);
        ASSERT_TRUE(m->arrays[0].level == NULL);
        ASSERT_EQ(m->arrays[0].n_members, 1);
        ASSERT_STREQ(m->arrays[0].members[0], "sdb1"); /* "(S)" spare flag dropped */
        ASSERT_TRUE(m->arrays[1].active);
        lf_mdstat_free(m);
        free(buf);
}

TEST(mdstat_read_only_and_empty) {
        lf_diag diag = {0};
        lf_mdstat *m = NULL;

        ASSERT_EQ(lf_mdstat_parse("mdstat",
                                  "Personalities : [raid1]\n"
                                  "md0 : active (auto-read-only) raid1 sdb1[1] sda1[0](F)\n"
                                  "      1000 blocks super 1.2 [2/1] [U_]\n\n"
                                  "unused devices: <none>\n",
                                  &diag, &m),
                  0);
        ASSERT_EQ(m->n_arrays, 1);
        ASSERT_STREQ(m->arrays[0].level, "raid1");
        ASSERT_STREQ(m->arrays[0].members[1], "sda1");
        lf_mdstat_free(m);
        ASSERT_EQ(lf_mdstat_parse("mdstat", "", &diag, &m), 0);
        ASSERT_EQ(m->n_arrays, 0);
        lf_mdstat_free(m);
        ASSERT_EQ(diag.n, 0);
}

TEST(mdstat_malformed) {
        lf_diag diag = {0};
        lf_mdstat *m = NULL;

        ASSERT_EQ(lf_mdstat_parse("mdstat", "md0 active raid0 sda1[0]\n", &diag, &m), -EINVAL);
        ASSERT_EQ(lf_mdstat_parse("mdstat", "md0 : resyncing raid0\n", &diag, &m), -EINVAL);
        ASSERT_EQ(lf_mdstat_parse("mdstat", "md0 : active raid0 sda1[x]\n", &diag, &m), -EINVAL);
        ASSERT_EQ(diag.n, 3);
        ASSERT_CONTAINS(diag.msgs[0], "mdstat:1: md0: expected ':'");
        lf_diag_clear(&diag);
}

TEST(md_detail_export) {
        char *buf = fixture("md-detail-export.txt");
        lf_diag diag = {0};
        lf_export *e = NULL;
        char **members = NULL;

        ASSERT_EQ(lf_export_parse("mdadm", buf, &diag, &e), 0);
        ASSERT_STREQ(lf_export_get(e, "MD_UUID"), "b4ee8463:53c11f2a:1fe808aa:2472bc6e");
        ASSERT_STREQ(lf_export_get(e, "MD_NAME"), "store1:fast");
        ASSERT_STREQ(lf_export_get(e, "MD_LEVEL"), "raid0");
        ASSERT_TRUE(lf_export_get(e, "MD_MISSING") == NULL);
        ASSERT_EQ(lf_export_md_members(e, &members), 0);
        ASSERT_STREQ(members[0], "/dev/sda4");
        ASSERT_STREQ(members[1], "/dev/sdc1");
        ASSERT_TRUE(members[2] == NULL);
        strv_free(members);
        lf_export_free(e);
        free(buf);
}

TEST(md_detail_inactive_and_examine) {
        char *buf = fixture("md-detail-inactive.txt");
        lf_diag diag = {0};
        lf_export *e = NULL;
        char **members = NULL;

        ASSERT_EQ(lf_export_parse("mdadm", buf, &diag, &e), 0);
        ASSERT_TRUE(lf_export_get(e, "MD_LEVEL") == NULL);
        ASSERT_EQ(lf_export_md_members(e, &members), 0);
        ASSERT_STREQ(members[0], "/dev/sdb1");
        ASSERT_TRUE(members[1] == NULL);
        strv_free(members);
        lf_export_free(e);
        free(buf);

        buf = fixture("md-examine-export.txt");
        ASSERT_EQ(lf_export_parse("mdadm", buf, &diag, &e), 0);
        ASSERT_STREQ(lf_export_get(e, "MD_DEV_UUID"), "9f56809e:afeb68d3:71fea8b8:5255aa7b");
        ASSERT_EQ(lf_export_md_members(e, &members), 0);
        ASSERT_TRUE(members[0] == NULL);
        strv_free(members);
        lf_export_free(e);
        free(buf);
}

TEST(blkid_export) {
        static const struct {
                const char *file, *type, *uuid, *label;
        } cases[] = {
                {"blkid-ext4.txt", "ext4", "21c92fd8-9a10-487e-bf60-0ae691d7a3d6", "root"},
                {"blkid-vfat.txt", "vfat", "41E3-5AE4", "EFI"},
                {"blkid-lv.txt", "ext4", "ed81ea42-7982-4a07-8958-db02b8facb14", "vmbase"},
                {"blkid-raid.txt", "linux_raid_member", "b4ee8463-53c1-1f2a-1fe8-08aa2472bc6e",
                 "store1:fast"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *buf = fixture(cases[i].file);
                lf_diag diag = {0};
                lf_export *e = NULL;
                ASSERT_EQ(lf_export_parse("blkid", buf, &diag, &e), 0);
                ASSERT_STREQ(lf_export_get(e, "TYPE"), cases[i].type);
                ASSERT_STREQ(lf_export_get(e, "UUID"), cases[i].uuid);
                ASSERT_STREQ(lf_export_get(e, "LABEL"), cases[i].label);
                lf_export_free(e);
                free(buf);
        }
}

TEST(export_escapes_and_errors) {
        lf_diag diag = {0};
        lf_export *e = NULL;

        /* Real blkid output for an LVM PV (captured with util-linux 2.38.1 on a loop device). */
        ASSERT_EQ(lf_export_parse("blkid", "UUID=CAt34C\nVERSION=LVM2\\ 001\nTYPE=LVM2_member\n",
                                  &diag, &e),
                  0);
        ASSERT_STREQ(lf_export_get(e, "VERSION"), "LVM2 001");
        lf_export_free(e);
        ASSERT_EQ(lf_export_parse("blkid", "TYPE=ext4\nno equals sign\n", &diag, &e), -EINVAL);
        ASSERT_EQ(lf_export_parse("blkid", "=x\n", &diag, &e), -EINVAL);
        ASSERT_EQ(lf_export_parse("blkid", "BAD KEY=x\n", &diag, &e), -EINVAL);
        ASSERT_EQ(diag.n, 3);
        ASSERT_CONTAINS(diag.msgs[0], "blkid:2: expected KEY=VALUE");
        lf_diag_clear(&diag);
}

TEST(mounts) {
        char *buf = fixture("mounts.txt");
        lf_diag diag = {0};
        lf_mounts *m = NULL;

        ASSERT_EQ(lf_mounts_parse("mounts", buf, &diag, &m), 0);
        ASSERT_EQ(m->n, 8);
        ASSERT_STREQ(m->mounts[6].source, "/dev/sda3");
        ASSERT_STREQ(m->mounts[6].target, "/target");
        ASSERT_STREQ(m->mounts[6].type, "ext4");
        ASSERT_STREQ(m->mounts[7].target, "/target/proc");
        lf_mounts_free(m);
        free(buf);

        ASSERT_EQ(lf_mounts_parse("mounts", "/dev/sdb1 /mnt/my\\040disk ext4 rw 0 0\n", &diag, &m),
                  0);
        ASSERT_STREQ(m->mounts[0].target, "/mnt/my disk");
        lf_mounts_free(m);
        ASSERT_EQ(lf_mounts_parse("mounts", "/dev/sdb1 /mnt\n", &diag, &m), -EINVAL);
        ASSERT_EQ(diag.n, 1);
        lf_diag_clear(&diag);
}

TEST(sfdisk_json) {
        char *buf = fixture("sfdisk.json");
        lf_diag diag = {0};
        lf_part_table *t = NULL;

        ASSERT_EQ(lf_sfdisk_parse("sfdisk", buf, strlen(buf), &diag, &t), 0);
        ASSERT_STREQ(t->label, "gpt");
        ASSERT_STREQ(t->id, "4A2233FA-5216-CC41-AA45-566BD929636E");
        ASSERT_EQ(t->sector_size, 512);
        ASSERT_EQ(t->n_parts, 4);
        ASSERT_STREQ(t->parts[0].node, "/dev/sda1");
        ASSERT_EQ(t->parts[0].start, 2048);
        ASSERT_EQ(t->parts[0].size, 2048);
        ASSERT_STREQ(t->parts[0].type, "21686148-6449-6E6F-744E-656564454649");
        ASSERT_STREQ(t->parts[0].name, "lf:store1:bios");
        ASSERT_EQ(t->parts[3].start, 9441280);
        ASSERT_EQ(t->parts[3].size, 11528192);
        ASSERT_STREQ(t->parts[3].uuid, "D66C2EB2-BB5C-0B43-B8BE-9D0E2DF6C2D2");
        lf_part_table_free(t);
        free(buf);
}

TEST(sfdisk_json_errors) {
        lf_diag diag = {0};
        lf_part_table *t = NULL;
        const char *bad[] = {
                "",
                "{\"partitiontable\": {}}",
                "{\"partitiontable\": {\"label\": \"gpt\", \"partitions\": [{\"node\": "
                "\"/dev/a1\"}]}}",
                "{\"partitiontable\": {\"label\": \"gpt\", \"sectorsize\": 7}}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_EQ(lf_sfdisk_parse("sfdisk", bad[i], strlen(bad[i]), &diag, &t), -EINVAL);
        ASSERT_CONTAINS(diag.msgs[1], "missing required key \"label\"");
        ASSERT_CONTAINS(diag.msgs[2], "partitions[0]: missing required key \"start\"");
        lf_diag_clear(&diag);

        /* An older sfdisk without "sectorsize": 512-byte sectors. */
        const char *old = "{\"partitiontable\": {\"label\": \"dos\", \"id\": \"0x1234\", "
                          "\"partitions\": []}}";
        ASSERT_EQ(lf_sfdisk_parse("sfdisk", old, strlen(old), &diag, &t), 0);
        ASSERT_EQ(t->sector_size, 512);
        ASSERT_EQ(t->n_parts, 0);
        lf_part_table_free(t);
}
