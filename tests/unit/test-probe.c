/* Hardware probe: golden inventories of sysfs trees under tests/fixtures/probe/, the rules that
 * need a tree of their own (transports, mounts through md/dm, NVMe), and real signatures that
 * libblkid reads from disk images made here with sfdisk, mkfs, pvcreate and an md writer. */
#include <endian.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "cmd.h"
#include "inventory.h"
#include "json.h"
#include "../../installer/probe.h"
#include "test.h"

static char *inventory_json(const lf_inventory *inv) {
        _cleanup_json_ json_object *o = NULL;
        ASSERT_EQ(lf_inventory_to_json(inv, &o), 0);
        return lf_json_to_string(o);
}

static void check_fixture(const char *machine) {
        _cleanup_free_ char *sys = NULL, *dev = NULL;
        char golden[256];
        _cleanup_inventory_ lf_inventory *inv = NULL, *again = NULL;
        _cleanup_free_ char *json = NULL, *text = NULL;
        lf_diag d = {};
        int r;

        /* The proc root is left to default: the "proc" beside "sys". */
        ASSERT_TRUE(asprintf(&sys, "%s/%s/sys", lf_test_path("tests/fixtures/probe"), machine) > 0);
        ASSERT_TRUE(asprintf(&dev, "%s/%s/dev", lf_test_path("tests/fixtures/probe"), machine) > 0);
        lf_probe_options o = {sys, dev, NULL};
        r = lf_probe(&o, &d, &inv);
        if (r < 0)
                lf_test_fail(__FILE__, __LINE__, "probe of %s: %d %s", machine, r,
                             d.n ? d.msgs[0] : "");
        json = inventory_json(inv);
        snprintf(golden, sizeof(golden), "tests/fixtures/probe/%s/expected.json", machine);
        ASSERT_GOLDEN(json, golden);
        text = lf_inventory_to_text(inv);
        snprintf(golden, sizeof(golden), "tests/fixtures/probe/%s/expected.txt", machine);
        ASSERT_GOLDEN(text, golden);
        /* What the probe writes, the planner must be able to read. */
        ASSERT_EQ(lf_inventory_load_buffer("probe.json", json, strlen(json), &d, &again), 0);
        ASSERT_EQ(d.n, 0);
}

/* Skips of loop, sr, empty card readers; USB stick mounted -> boot medium; SD card; serial from
 * the by-id name; Wi-Fi without speed; bridge and lo left out; MemTotal fallback. */
TEST(fixture_desktop) {
        check_fixture("desktop");
}

/* NVMe (model/serial on the controller, by-id preferred over nvme-eui.), VPD serials with
 * padding, online memory blocks only, CPU list with several ranges, BIOS, 10G NICs. */
TEST(fixture_nvme_sata) {
        check_fixture("nvme-sata");
}

/* virtio-blk and virtio-scsi disks of a qemu guest, sr0 skipped, OVMF. */
TEST(fixture_qemu_q35) {
        check_fixture("qemu-q35");
}

/* Captured from the build VM with capture.sh: no DMI, no udev (no by-id), root mounted. */
TEST(fixture_build_vm) {
        check_fixture("build-vm");
}

/* Fake trees made at run time. */
static const char *img(const char *root, const char *name) {
        static char buf[4][512];
        static int i;
        i = (i + 1) % 4;
        snprintf(buf[i], sizeof(buf[i]), "%s/dev/%s", root, name);
        return buf[i];
}

static void put(const char *root, const char *rel, const char *fmt, ...) _printf_(3, 4);
static void put(const char *root, const char *rel, const char *fmt, ...) {
        _cleanup_free_ char *path = NULL, *val = NULL;
        va_list ap;

        ASSERT_TRUE(asprintf(&path, "%s/%s", root, rel) > 0);
        for (char *s = strchr(path + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                mkdir(path, 0755);
                *s = '/';
        }
        va_start(ap, fmt);
        ASSERT_TRUE(vasprintf(&val, fmt, ap) >= 0);
        va_end(ap);
        FILE *f = fopen(path, "we");
        ASSERT_TRUE(f);
        fputs(val, f);
        ASSERT_EQ(fclose(f), 0);
}

/* root/link -> root/target (absolute: these trees are not committed). */
static void put_link(const char *root, const char *link, const char *target) {
        _cleanup_free_ char *l = NULL, *t = NULL;
        ASSERT_TRUE(asprintf(&l, "%s/%s", root, link) > 0 &&
                    asprintf(&t, "%s/%s", root, target) > 0);
        put(root, link, "%s", ""); /* creates the directories */
        ASSERT_EQ(unlink(l), 0);
        ASSERT_EQ(symlink(t, l), 0);
}

/* A disk at sys/DEVPATH/block/NAME (sys/block/NAME when devpath is NULL), /dev/NAME empty. */
static void fake_disk(const char *root, const char *name, const char *devpath, uint64_t sectors,
                      int rotational) {
        _cleanup_free_ char *dir = NULL, *link = NULL;
        char rel[512];

        if (devpath) {
                ASSERT_TRUE(asprintf(&dir, "sys/%s/block/%s", devpath, name) > 0);
                ASSERT_TRUE(asprintf(&link, "sys/block/%s", name) > 0);
                put_link(root, link, dir);
        } else
                ASSERT_TRUE(asprintf(&dir, "sys/block/%s", name) > 0);
        snprintf(rel, sizeof(rel), "%s/size", dir);
        put(root, rel, "%llu\n", (unsigned long long)sectors);
        snprintf(rel, sizeof(rel), "%s/queue/rotational", dir);
        put(root, rel, "%d\n", rotational);
        snprintf(rel, sizeof(rel), "%s/removable", dir);
        put(root, rel, "0\n");
        snprintf(rel, sizeof(rel), "dev/%s", name);
        put(root, rel, "%s", "");
}

static void fake_machine(const char *root) {
        put(root, "sys/devices/system/cpu/online", "0-1\n");
        put(root, "proc/meminfo", "MemTotal: 2048000 kB\n");
        put(root, "proc/mounts", "%s", "");
}

static lf_inventory *probe_tree(const char *root) {
        char sys[512], dev[512];
        lf_probe_options o = {sys, dev, NULL};
        lf_inventory *inv = NULL;
        lf_diag d = {};

        snprintf(sys, sizeof(sys), "%s/sys", root);
        snprintf(dev, sizeof(dev), "%s/dev", root);
        int r = lf_probe(&o, &d, &inv);
        if (r < 0)
                lf_test_fail(__FILE__, __LINE__, "probe: %d %s", r, d.n ? d.msgs[0] : "");
        return inv;
}

static const lf_inv_disk *disk(const lf_inventory *inv, const char *name) {
        const lf_inv_disk *d = lf_inventory_find_disk(inv, name);
        if (!d)
                lf_test_fail(__FILE__, __LINE__, "no disk %s in the inventory", name);
        return d;
}

/* A device's driver: DEV/driver -> sys/bus/BUS/drivers/DRV, whose module link (when MOD is
 * not NULL: NULL is a built-in driver) -> sys/module/MOD. */
static void fake_driver(const char *root, const char *dev, const char *bus, const char *drv,
                        const char *mod) {
        char link[512], target[512];
        snprintf(link, sizeof(link), "%s/driver", dev);
        snprintf(target, sizeof(target), "sys/bus/%s/drivers/%s", bus, drv);
        put_link(root, link, target);
        if (!mod)
                return;
        snprintf(link, sizeof(link), "%s/sys/bus/%s/drivers/%s/module", root, bus, drv);
        struct stat st;
        if (lstat(link, &st) == 0)
                return; /* the driver of another device too */
        snprintf(link, sizeof(link), "sys/bus/%s/drivers/%s/module", bus, drv);
        snprintf(target, sizeof(target), "sys/module/%s", mod);
        put_link(root, link, target);
}

TEST(disk_modules_from_sysfs) {
        const char *root = lf_test_tmpdir();
        const char *pci = "sys/devices/pci0000:00/0000:00:02.1";
        const char *scsi = "sys/devices/pci0000:00/0000:00:02.1/0000:02:00.0/virtio3/host0";
        char sys[512], path[512];
        lf_probe_options o = {sys, NULL, NULL};
        _cleanup_strv_free_ char **mods = NULL;
        size_t n = 0;

        snprintf(sys, sizeof(sys), "%s/sys", root);
        for (int i = 0; i < 2; i++) { /* sda and sdb on one virtio-scsi adapter */
                char name[8], dev[256], rel[512];
                snprintf(name, sizeof(name), "sd%c", 'a' + i);
                snprintf(dev, sizeof(dev), "%s/target0:0:%d/0:0:%d:0", scsi + 4, i, i);
                fake_disk(root, name, dev, 1 << 20, 0);
                snprintf(rel, sizeof(rel), "sys/%s/block/%s/device", dev, name);
                snprintf(path, sizeof(path), "sys/%s", dev);
                put_link(root, rel, path);
                fake_driver(root, path, "scsi", "sd", "sd_mod");
        }
        snprintf(path, sizeof(path), "%s/0000:02:00.0/virtio3", pci);
        fake_driver(root, path, "virtio", "virtio_scsi", "virtio_scsi");
        snprintf(path, sizeof(path), "%s/0000:02:00.0", pci);
        fake_driver(root, path, "pci", "virtio-pci", "virtio_pci");
        fake_driver(root, pci, "pci", "pcieport", NULL); /* built in: no module */
        /* nvme0n1 -> the nvme0 controller (no driver) -> its PCI function (nvme). */
        fake_disk(root, "nvme0n1", "devices/pci0000:00/0000:00:03.0/nvme/nvme0", 1 << 20, 0);
        put_link(root, "sys/devices/pci0000:00/0000:00:03.0/nvme/nvme0/block/nvme0n1/device",
                 "sys/devices/pci0000:00/0000:00:03.0/nvme/nvme0");
        fake_driver(root, "sys/devices/pci0000:00/0000:00:03.0", "pci", "nvme", "nvme");

        ASSERT_EQ(lf_probe_disk_modules(&o, "sda", &mods, &n), 0);
        ASSERT_EQ(lf_probe_disk_modules(&o, "sdb", &mods, &n), 0);
        ASSERT_EQ(lf_probe_disk_modules(&o, "nvme0n1", &mods, &n), 0);
        ASSERT_EQ(n, 4u);
        ASSERT_STREQ(mods[0], "sd_mod");
        ASSERT_STREQ(mods[1], "virtio_scsi");
        ASSERT_STREQ(mods[2], "virtio_pci");
        ASSERT_STREQ(mods[3], "nvme");
        ASSERT_TRUE(mods[4] == NULL);
        ASSERT_EQ(lf_probe_disk_modules(&o, "sdz", &mods, &n), -ENOENT);
        ASSERT_EQ(lf_probe_disk_modules(&o, "../sda", &mods, &n), -EINVAL);
        ASSERT_EQ(n, 4u);
}

TEST(transport_from_device_path) {
        const char *root = lf_test_tmpdir();
        _cleanup_inventory_ lf_inventory *inv = NULL;

        fake_machine(root);
        fake_disk(root, "sda", "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0",
                  1000, 1);
        fake_disk(root, "sdb",
                  "devices/pci0000:00/0000:00:03.0/0000:05:00.0/host4/port-4:0/"
                  "end_device-4:0/target4:0:0/4:0:0:0",
                  1000, 1);
        /* A USB-SATA bridge has ata-like names behind it: it is still USB. */
        fake_disk(root, "sdc",
                  "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host5/"
                  "target5:0:0/5:0:0:0",
                  1000, 1);
        fake_disk(root, "sdd", "devices/pci0000:00/0000:00:04.0/host1/target1:0:0/1:0:0:0", 1000,
                  1);
        fake_disk(root, "xvda", "devices/vbd-51712", 1000, 0);
        /* NVMe is solid state whatever the queue says. */
        fake_disk(root, "nvme0n1", "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0", 1000,
                  1);
        fake_disk(root, "mmcblk1", NULL, 1000, 0);
        inv = probe_tree(root);
        ASSERT_EQ(inv->n_disks, 7);
        ASSERT_STREQ(disk(inv, "sda")->transport, "sata");
        ASSERT_STREQ(disk(inv, "sdb")->transport, "sas");
        ASSERT_STREQ(disk(inv, "sdc")->transport, "usb");
        ASSERT_STREQ(disk(inv, "sdd")->transport, "scsi");
        ASSERT_STREQ(disk(inv, "xvda")->transport, "unknown");
        ASSERT_STREQ(disk(inv, "nvme0n1")->transport, "nvme");
        ASSERT_TRUE(!disk(inv, "nvme0n1")->rotational);
        ASSERT_TRUE(disk(inv, "sda")->rotational);
        ASSERT_STREQ(disk(inv, "mmcblk1")->transport, "mmc");
        /* Sorted the way people count: nvme0n1, sda.., not by readdir. */
        ASSERT_STREQ(inv->disks[0].name, "mmcblk1");
        ASSERT_STREQ(inv->disks[6].name, "xvda");
}

/* A disk counts as the boot medium when anything on it is mounted: itself, a partition, an md
 * array or an LVM volume stacked on a partition (found through holders/), or a partition named
 * by a /dev/disk/by-... link. */
TEST(boot_medium_through_holders_and_links) {
        const char *root = lf_test_tmpdir();
        _cleanup_inventory_ lf_inventory *inv = NULL;

        fake_machine(root);
        fake_disk(root, "sda", NULL, 1000, 0);
        put(root, "sys/block/sda/sda2/partition", "2\n");
        put_link(root, "sys/block/sda/sda2/holders/md127", "sys/devices/virtual/block/md127");
        put_link(root, "sys/devices/virtual/block/md127/holders/dm-0",
                 "sys/devices/virtual/block/dm-0");
        put(root, "sys/devices/virtual/block/dm-0/dm/name", "labvg-root\n");
        fake_disk(root, "sdb", NULL, 1000, 0);
        put(root, "sys/block/sdb/sdb1/partition", "1\n");
        put_link(root, "dev/disk/by-uuid/1234-ABCD", "dev/sdb1");
        fake_disk(root, "sdc", NULL, 1000, 0);
        put(root, "sys/block/sdc/sdc1/partition", "1\n");
        fake_disk(root, "sdd", NULL, 1000, 0);
        put(root, "proc/mounts",
            "/dev/mapper/labvg-root / ext4 rw 0 0\n"
            "/dev/disk/by-uuid/1234-ABCD /boot/efi vfat rw 0 0\n"
            "/dev/sdd /mnt ext4 rw 0 0\n"
            "tmpfs /tmp tmpfs rw 0 0\n");
        inv = probe_tree(root);
        ASSERT_TRUE(disk(inv, "sda")->boot_medium);
        ASSERT_TRUE(disk(inv, "sdb")->boot_medium);
        ASSERT_TRUE(!disk(inv, "sdc")->boot_medium);
        ASSERT_TRUE(disk(inv, "sdd")->boot_medium);
}

TEST(probe_errors_name_the_path) {
        const char *root = lf_test_tmpdir();
        char sys[512], dev[512];
        lf_probe_options o = {sys, dev, NULL};
        lf_inventory *inv = NULL;
        lf_diag d = {};

        snprintf(sys, sizeof(sys), "%s/nowhere", root);
        snprintf(dev, sizeof(dev), "%s/dev", root);
        ASSERT_EQ(lf_probe(&o, &d, &inv), -ENOENT);
        ASSERT_CONTAINS(d.msgs[0], "/nowhere: not a sysfs tree: No such file or directory");
        lf_diag_clear(&d);

        fake_machine(root);
        fake_disk(root, "sda", NULL, 1000, 0);
        ASSERT_EQ(unlink(img(root, "sda")), 0);
        snprintf(sys, sizeof(sys), "%s/sys", root);
        ASSERT_TRUE(lf_probe(&o, &d, &inv) < 0);
        ASSERT_TRUE(inv == NULL);
        ASSERT_CONTAINS(d.msgs[0], "/dev/sda: cannot open to read its signatures: No such file");
        lf_diag_clear(&d);

        put(root, "dev/sda", "%s", "");
        put(root, "sys/devices/system/cpu/online", "\n");
        ASSERT_EQ(lf_probe(&o, &d, &inv), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "cpu: cannot count the CPUs");
        lf_diag_clear(&d);
}

/* Disk images with real signatures. */
static void run(const char *prog, ...) __attribute__((sentinel));
static void run(const char *prog, ...) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new(prog);
        lf_cmd_result res = {};
        const char *a;
        va_list ap;

        ASSERT_TRUE(c);
        va_start(ap, prog);
        while ((a = va_arg(ap, const char *)))
                lf_cmd_add_arg(c, a);
        va_end(ap);
        int r = lf_cmd_run_ok(c, &res);
        if (r < 0) {
                _cleanup_free_ char *s = lf_cmd_to_string(c);
                lf_test_fail(__FILE__, __LINE__, "%s: %d\n%s%s", s, r, res.out ? res.out : "",
                             res.err ? res.err : "");
        }
        lf_cmd_result_clear(&res);
}

/* An image of `mib` MiB at dev/NAME, registered in sys/block/NAME with its size. */
static const char *image(const char *root, const char *name, unsigned mib) {
        const char *p = img(root, name);
        fake_disk(root, name, NULL, (uint64_t)mib * 2048, 0);
        ASSERT_EQ(truncate(p, (off_t)mib << 20), 0);
        return p;
}

static void put_le32(unsigned char *b, size_t off, uint32_t v) {
        v = htole32(v);
        memcpy(b + off, &v, 4);
}

static void put_le64(unsigned char *b, size_t off, uint64_t v) {
        v = htole64(v);
        memcpy(b + off, &v, 8);
}

/* Writes an md metadata 1.2 superblock (RAID0 member 0 of 2, array name `name`) into the
 * `size` bytes at `offset` of the image: at 4 KiB into that area, as mdadm --create does. We
 * write it ourselves because mdadm --create needs the md driver, which the build machines'
 * kernel does not have (DESIGN §9); layout and checksum follow mdadm's super1.c, and the test
 * has `mdadm --examine` (which needs no driver) confirm the checksum. */
static void write_md_superblock(const char *path, uint64_t offset, uint64_t size,
                                const char *name) {
        unsigned char sb[256 + 2 * 2] = {};
        uint64_t sum = 0;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        put_le32(sb, 0, 0xa92b4efc);          /* magic */
        put_le32(sb, 4, 1);                   /* major_version */
        memset(sb + 16, 0x5a, 16);            /* set_uuid */
        strncpy((char *)sb + 32, name, 32);   /* set_name */
        put_le64(sb, 64, 1700000000);         /* ctime */
        put_le32(sb, 72, 0);                  /* level: raid0 */
        put_le32(sb, 88, 1024);               /* chunksize: 512 KiB in sectors */
        put_le32(sb, 92, 2);                  /* raid_disks */
        put_le64(sb, 128, 2048);              /* data_offset (sectors) */
        put_le64(sb, 136, size / 512 - 2048); /* data_size */
        put_le64(sb, 144, 8);       /* super_offset: 4 KiB, in sectors, from the member's start */
        memset(sb + 168, 0xa5, 16); /* device_uuid */
        put_le64(sb, 192, 1700000000); /* utime */
        put_le64(sb, 200, 1);          /* events */
        put_le32(sb, 220, 2); /* max_dev; dev_roles[] = {0, 1} follow the 256-byte header */
        sb[258] = 1;
        for (size_t i = 0; i < sizeof(sb); i += 4) {
                uint32_t w;
                memcpy(&w, sb + i, 4);
                sum += le32toh(w);
        }
        put_le32(sb, 216, (uint32_t)((sum & 0xffffffff) + (sum >> 32))); /* sb_csum */
        ASSERT_EQ(pwrite(fd, sb, sizeof(sb), (off_t)(offset + 4096)), (ssize_t)sizeof(sb));
}

/* Asserts the disk's list (signatures or labels) is exactly `want` (NULL-terminated). */
static void assert_list(char *const *got, size_t n, const char *const *want, const char *what) {
        size_t i = 0;
        for (; want[i]; i++)
                if (i >= n || !streq(got[i], want[i]))
                        lf_test_fail(__FILE__, __LINE__, "%s[%zu]: got \"%s\", want \"%s\"", what,
                                     i, i < n ? got[i] : "(end)", want[i]);
        if (i != n)
                lf_test_fail(__FILE__, __LINE__, "%s: unexpected \"%s\"", what, got[i]);
}

#define ASSERT_SIGNATURES(d, ...)                                                                  \
        assert_list((d)->signatures, (d)->n_signatures, (const char *const[]){__VA_ARGS__, NULL},  \
                    "signatures")
#define ASSERT_LABELS(d, ...)                                                                      \
        assert_list((d)->labels, (d)->n_labels, (const char *const[]){__VA_ARGS__, NULL}, "labels")

/* Partition layout of the GPT images: 1 MiB .. 17 MiB and 17 MiB .. 49 MiB. */
#define P1_START 2048
#define P1_SECTORS 32768
#define P2_START (P1_START + P1_SECTORS)
#define P2_SECTORS 65536

static void gpt(const char *path, const char *name1, const char *name2) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sfdisk");
        lf_cmd_result res = {};
        _cleanup_free_ char *script = NULL;

        ASSERT_TRUE(asprintf(&script,
                             "label: gpt\n"
                             "start=%d, size=%d, type=linux, name=\"%s\"\n"
                             "start=%d, size=%d, type=linux, name=\"%s\"\n",
                             P1_START, P1_SECTORS, name1, P2_START, P2_SECTORS, name2) > 0);
        ASSERT_EQ(lf_cmd_add_args(c, "--quiet", "--no-reread", "--no-tell-kernel", path, NULL), 0);
        ASSERT_EQ(lf_cmd_set_input(c, script, strlen(script)), 0);
        if (lf_cmd_run_ok(c, &res) < 0)
                lf_test_fail(__FILE__, __LINE__, "sfdisk: %s", res.err ? res.err : "");
        lf_cmd_result_clear(&res);
}

TEST(image_signatures) {
        const char *root = lf_test_tmpdir();
        _cleanup_inventory_ lf_inventory *inv = NULL;
        char off[64];
        const char *p;

        fake_machine(root);

        /* sda: GPT; vfat in partition 1 (mkfs.vfat --offset), ext4 in partition 2 (mkfs.ext4
         * -E offset); both made inside the one image file. */
        p = image(root, "sda", 64);
        gpt(p, "lf:store1:esp", "lf:store1:root");
        snprintf(off, sizeof(off), "%d", P1_START);
        run("mkfs.vfat", "--offset", off, "-n", "ESP", p, "16384", NULL);
        snprintf(off, sizeof(off), "offset=%d", P2_START * 512);
        run("mkfs.ext4", "-q", "-F", "-L", "ROOTFS", "-E", off, p, "32M", NULL);

        /* sdb: a whole-disk vfat, the way many USB sticks come. */
        p = image(root, "sdb", 40);
        run("mkfs.vfat", "-n", "STICK", p, NULL);

        /* sdc: an md member written over an old ext4: both must show, the stale one too. */
        p = image(root, "sdc", 32);
        run("mkfs.ext4", "-q", "-F", "-L", "OLDFS", p, NULL);
        write_md_superblock(p, 0, 32 << 20, "store1:fast");
        {
                _cleanup_cmd_ lf_cmd *c = lf_cmd_new("mdadm");
                lf_cmd_result res = {};
                ASSERT_EQ(lf_cmd_add_args(c, "--examine", p, NULL), 0);
                ASSERT_EQ(lf_cmd_run_ok(c, &res), 0);
                ASSERT_CONTAINS(res.out, "Name : store1:fast");
                ASSERT_CONTAINS(res.out, "- correct");
                lf_cmd_result_clear(&res);
        }

        /* sdd: the layout labforge itself makes: a GPT partition holding an md member. */
        p = image(root, "sdd", 64);
        gpt(p, "lf:store1:boot", "lf:store1:bulk");
        write_md_superblock(p, (uint64_t)P2_START * 512, (uint64_t)P2_SECTORS * 512, "store1:bulk");

        /* sde: blank. */
        image(root, "sde", 16);

        inv = probe_tree(root);
        ASSERT_EQ(inv->n_disks, 5);
        ASSERT_SIGNATURES(disk(inv, "sda"), "gpt", "vfat", "ext4");
        ASSERT_LABELS(disk(inv, "sda"), "lf:store1:esp", "ESP", "lf:store1:root", "ROOTFS");
        ASSERT_SIGNATURES(disk(inv, "sdb"), "vfat");
        ASSERT_LABELS(disk(inv, "sdb"), "STICK");
        ASSERT_SIGNATURES(disk(inv, "sdc"), "linux_raid_member", "ext4");
        ASSERT_LABELS(disk(inv, "sdc"), "store1:fast", "OLDFS");
        ASSERT_SIGNATURES(disk(inv, "sdd"), "gpt", "linux_raid_member");
        ASSERT_LABELS(disk(inv, "sdd"), "lf:store1:boot", "lf:store1:bulk", "store1:bulk");
        ASSERT_EQ(disk(inv, "sde")->n_signatures, 0);
        ASSERT_EQ(disk(inv, "sde")->n_labels, 0);
        ASSERT_EQ(disk(inv, "sda")->size_bytes, 64 << 20);
}

/* Sets up a loop device over [offset, offset+size) of path, runs prog with the arguments given
 * and the loop device last, and detaches it. */
static void on_loop(const char *lvm_dir, const char *path, uint64_t offset, uint64_t size,
                    const char *prog, ...) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("losetup");
        lf_cmd_result res = {};
        char o[32], s[32], loopdev[64];
        va_list ap;

        snprintf(o, sizeof(o), "%llu", (unsigned long long)offset);
        snprintf(s, sizeof(s), "%llu", (unsigned long long)size);
        ASSERT_EQ(
                lf_cmd_add_args(c, "--find", "--show", "--offset", o, "--sizelimit", s, path, NULL),
                0);
        if (lf_cmd_run_ok(c, &res) < 0)
                lf_test_fail(__FILE__, __LINE__, "losetup: %s", res.err ? res.err : "");
        snprintf(loopdev, sizeof(loopdev), "%s", res.out);
        loopdev[strcspn(loopdev, "\n")] = 0;
        lf_cmd_result_clear(&res);

        _cleanup_cmd_ lf_cmd *t = lf_cmd_new(prog);
        const char *a;
        va_start(ap, prog);
        while ((a = va_arg(ap, const char *)))
                lf_cmd_add_arg(t, a);
        va_end(ap);
        lf_cmd_add_arg(t, loopdev);
        if (lvm_dir) {
                lf_cmd_set_env(t, "LVM_SYSTEM_DIR", lvm_dir);
                lf_cmd_set_env(t, "LVM_SUPPRESS_FD_WARNINGS", "1");
        }
        int r = lf_cmd_run_ok(t, &res);
        /* Detach before judging, so a failure leaves no loop device behind. */
        _cleanup_cmd_ lf_cmd *d = lf_cmd_new("losetup");
        lf_cmd_result dres = {};
        lf_cmd_add_args(d, "--detach", loopdev, NULL);
        int rd = lf_cmd_run_ok(d, &dres);
        if (r < 0)
                lf_test_fail(__FILE__, __LINE__, "%s on %s: %s%s", prog, loopdev,
                             res.out ? res.out : "", res.err ? res.err : "");
        ASSERT_EQ(rd, 0);
        lf_cmd_result_clear(&res);
        lf_cmd_result_clear(&dres);
}

/* LVM refuses plain files, so PVs are made on loop devices: that needs root. */
TEST(image_lvm_signatures) {
        const char *root = lf_test_tmpdir();
        _cleanup_inventory_ lf_inventory *inv = NULL;
        _cleanup_free_ char *lvm_dir = NULL;
        const char *p;

        if (geteuid() != 0)
                lf_test_skip("making LVM PVs needs loop devices, which need root");
        fake_machine(root);
        /* Our own LVM configuration: no udev in a build container, and scan only loop devices
         * so the host's disks are left alone. */
        ASSERT_TRUE(asprintf(&lvm_dir, "%s/lvm", root) > 0);
        put(root, "lvm/lvm.conf",
            "devices {\n"
            "  obtain_device_list_from_udev = 0\n"
            "  use_devicesfile = 0\n"
            "  global_filter = [ \"a|^/dev/loop|\", \"r|.*|\" ]\n"
            "}\n"
            "activation {\n  udev_sync = 0\n  udev_rules = 0\n}\n");

        /* sda: a whole-disk PV, as an old install leaves it. */
        p = image(root, "sda", 32);
        on_loop(lvm_dir, p, 0, 32 << 20, "pvcreate", "-y", "-q", NULL);

        /* sdb: GPT, swap in partition 1, a PV in partition 2, each through a loop device
         * over the partition's range of the image. */
        p = image(root, "sdb", 64);
        gpt(p, "swap", "lf:old:pv");
        on_loop(NULL, p, (uint64_t)P1_START * 512, (uint64_t)P1_SECTORS * 512, "mkswap", "-L",
                "SWAP1", NULL);
        on_loop(lvm_dir, p, (uint64_t)P2_START * 512, (uint64_t)P2_SECTORS * 512, "pvcreate", "-y",
                "-q", NULL);

        inv = probe_tree(root);
        ASSERT_SIGNATURES(disk(inv, "sda"), "LVM2_member");
        ASSERT_EQ(disk(inv, "sda")->n_labels, 0);
        ASSERT_SIGNATURES(disk(inv, "sdb"), "gpt", "swap", "LVM2_member");
        ASSERT_LABELS(disk(inv, "sdb"), "swap", "SWAP1", "lf:old:pv");
}
