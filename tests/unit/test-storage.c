/* The storage runtime (roles/storage.c) through the command runner's hook: the tools and
 * arguments a VM disk's creation, reset and deletion run, what is skipped when the snapshot,
 * mount or export is already there, and the errors for a missing golden image, a failing tool
 * and a bad VM name. (The lab test install-storage runs the same code on real LVM.) */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../roles/storage.h"
#include "cmd.h"
#include "test.h"

typedef struct fake {
        char log[4096];
        bool lv_exists;
        int fail_lvcreate;
        const char *mounts; /* the mount table the code reads; mount and umount change it */
} fake;

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        ASSERT_TRUE(f != NULL);
        fputs(text, f);
        fclose(f);
}

static int hook(const char *const *argv, const char *input, size_t input_len, lf_cmd_result *ret,
                void *userdata) {
        fake *f = userdata;
        size_t n = strlen(f->log);

        for (const char *const *a = argv; *a; a++)
                n += (size_t)snprintf(f->log + n, sizeof(f->log) - n, "%s%s", a == argv ? "" : " ",
                                      *a);
        snprintf(f->log + n, sizeof(f->log) - n, "\n");
        if (streq(argv[0], "lvs"))
                ret->exit_status = f->lv_exists ? 0 : 5;
        if (streq(argv[0], "lvcreate")) {
                ret->exit_status = f->fail_lvcreate;
                if (f->fail_lvcreate)
                        ret->err = strdup("  Volume group \"labvg\" has insufficient free space "
                                          "(12 extents): 640 required.\n");
                else
                        f->lv_exists = true;
        }
        if (streq(argv[0], "lvremove"))
                f->lv_exists = false;
        if (streq(argv[0], "mount") && f->mounts) {
                char line[1200];
                snprintf(line, sizeof(line), "/dev/md127 / ext4 rw 0 0\n%s %s ext4 rw 0 0\n",
                         argv[5], argv[6]);
                write_file(f->mounts, line);
        }
        if (streq(argv[0], "umount") && f->mounts)
                write_file(f->mounts, "/dev/md127 / ext4 rw 0 0\n");
        return 0;
}

static lf_manifest *lab(void) {
        static const char xml[] =
                "<lab name=\"s\"><appliance interface=\"eth0\" address=\"10.1.0.1/24\"/>"
                "<network><management subnet=\"10.1.0.0/24\"/>"
                "<storage-links subnet=\"10.10.0.0/24\"/></network>"
                "<node name=\"store1\" role=\"storage\" mac=\"52:54:00:00:00:01\"/>"
                "<node name=\"kvm1\" role=\"kvm\" mac=\"52:54:00:00:00:02\"/>"
                "<link a=\"store1:52:54:00:00:10:01\" b=\"kvm1:52:54:00:00:10:02\"/>"
                "<template name=\"win-lab\" image=\"win-lab.raw\" memory=\"2048\" vcpus=\"2\"/>"
                "</lab>";
        lf_manifest *m = NULL;
        lf_diag d = {};
        if (lf_manifest_load_buffer("lab.xml", xml, sizeof(xml) - 1, &d, &m) < 0)
                lf_test_fail(__FILE__, __LINE__, "%s", d.n ? d.msgs[0] : "manifest");
        return m;
}

TEST(create_reset_delete) {
        _cleanup_manifest_ lf_manifest *m = lab();
        const char *dir = lf_test_tmpdir();
        char base[512], vms[512], mounts[512], image[600], all[8192];
        const lf_template *t = lf_manifest_find_template(m, "win-lab");
        fake f = {};
        lf_diag d = {};
        FILE *img;

        snprintf(base, sizeof(base), "%s/base", dir);
        snprintf(vms, sizeof(vms), "%s/vms", dir);
        snprintf(mounts, sizeof(mounts), "%s/mounts", dir);
        snprintf(image, sizeof(image), "%s/win-lab.raw", base);
        ASSERT_EQ(mkdir(base, 0755), 0);
        img = fopen(image, "w");
        ASSERT_TRUE(img != NULL);
        ASSERT_EQ(ftruncate(fileno(img), 3000ll << 20), 0); /* 3000 MiB, sparse */
        fclose(img);
        write_file(mounts, "/dev/md127 / ext4 rw 0 0\n");
        lf_storage_paths paths = {base, vms, mounts};
        f.mounts = mounts;

        lf_cmd_set_hook(hook, &f);
        snprintf(all, sizeof(all), "# create\n");
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_CREATE, "pc01", t, &d), 0);
        strcat(all, f.log);
        /* Again, with the snapshot mounted: only the export is renewed. */
        f.log[0] = 0;
        strcat(all, "# create again\n");
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_CREATE, "pc01", t, &d), 0);
        strcat(all, f.log);
        f.log[0] = 0;
        strcat(all, "# reset\n");
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_RESET, "pc01", t, &d), 0);
        strcat(all, f.log);
        f.log[0] = 0;
        strcat(all, "# delete\n");
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_DELETE, "pc01", NULL, &d), 0);
        strcat(all, f.log);
        /* Deleting what is gone runs no lvremove and is no error. */
        f.log[0] = 0;
        strcat(all, "# delete again\n");
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_DELETE, "pc01", NULL, &d), 0);
        strcat(all, f.log);
        ASSERT_EQ(d.n, 0);

        /* A tool's failure is reported with its own words. */
        f = (fake){.fail_lvcreate = 5};
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_CREATE, "pc02", t, &d), -EIO);
        ASSERT_CONTAINS(d.msgs[0], "pc02: lvcreate failed:   Volume group \"labvg\" has "
                                   "insufficient free space");
        lf_diag_clear(&d);
        lf_cmd_set_hook(NULL, NULL);

        /* The test's directory in the commands is shown as TMP. */
        for (char *p; (p = strstr(all, dir));) {
                memmove(p + 3, p + strlen(dir), strlen(p + strlen(dir)) + 1);
                memcpy(p, "TMP", 3);
        }
        ASSERT_GOLDEN(all, "tests/fixtures/storage/disk.commands");
}

TEST(bad_input_changes_nothing) {
        _cleanup_manifest_ lf_manifest *m = lab();
        const lf_template *t = lf_manifest_find_template(m, "win-lab");
        lf_storage_paths paths = {.base_dir = "/nonexistent/base", .vm_dir = "/nonexistent/vms"};
        fake f = {};
        lf_diag d = {};

        lf_cmd_set_hook(hook, &f);
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_CREATE, "pc01", t, &d), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "pc01: the golden image /nonexistent/base/win-lab.raw of "
                                   "template win-lab is missing");
        lf_diag_clear(&d);
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_CREATE, "../etc", t, &d), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "'../etc' is not a VM name");
        lf_diag_clear(&d);
        ASSERT_EQ(lf_storage_disk(m, &paths, LF_ACTION_DISK_RESET, "pc01", NULL, &d), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "pc01: no template to make its disk from");
        lf_diag_clear(&d);
        lf_cmd_set_hook(NULL, NULL);
        ASSERT_STREQ(f.log, ""); /* nothing ran */
}
