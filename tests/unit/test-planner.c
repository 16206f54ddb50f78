/* The planner and the plan format: golden plans (JSON and text) for fixture inventories and labs
 * under tests/fixtures/planner/, round trips through JSON, determinism, and one test per way a
 * plan can be refused, each with its exact message. */
#include "inventory.h"
#include "json.h"
#include "manifest.h"
#include "planner.h"
#include "test.h"

#define DIR "tests/fixtures/planner/"

/* Loads lab and inventory from the fixtures, named by their file name alone so that messages do
 * not depend on where the tree is checked out. */
/* These free what they hold before asserting: a failed assertion leaves the function at once,
 * and a leak report would hide the failure. */
static lf_manifest *load_lab(const char *lab) {
        char path[256], name[64];
        lf_diag d = {};
        lf_manifest *m = NULL;

        snprintf(path, sizeof(path), DIR "labs/%s.xml", lab);
        snprintf(name, sizeof(name), "%s.xml", lab);
        char *buf = lf_test_read_file(path);
        int r = lf_manifest_load_buffer(name, buf, strlen(buf), &d, &m);
        free(buf);
        lf_diag_print(&d);
        lf_diag_clear(&d);
        ASSERT_EQ(r, 0);
        return m;
}

static lf_inventory *load_inventory(const char *inv) {
        char path[256], name[64];
        lf_diag d = {};
        lf_inventory *i = NULL;

        snprintf(path, sizeof(path), DIR "%s.inventory.json", inv);
        snprintf(name, sizeof(name), "%s.inventory.json", inv);
        char *buf = lf_test_read_file(path);
        int r = lf_inventory_load_buffer(name, buf, strlen(buf), &d, &i);
        free(buf);
        lf_diag_print(&d);
        lf_diag_clear(&d);
        ASSERT_EQ(r, 0);
        return i;
}

static lf_plan *build(const char *inv, const char *lab, const char *node) {
        lf_manifest *m = load_lab(lab);
        lf_inventory *i = load_inventory(inv);
        lf_diag d = {};
        lf_plan *p = NULL;

        int r = lf_plan_build(m, node, i, &d, &p);
        lf_manifest_free(m);
        lf_inventory_free(i);
        lf_diag_print(&d);
        size_t n = d.n;
        lf_diag_clear(&d);
        ASSERT_EQ(n, 0);
        ASSERT_EQ(r, 0);
        return p;
}

static char *plan_json(const lf_plan *p) {
        _cleanup_json_ json_object *j = NULL;
        ASSERT_EQ(lf_plan_to_json(p, &j), 0);
        char *s = lf_json_to_string(j);
        ASSERT_TRUE(s);
        return s;
}

static char *plan_text(const lf_plan *p) {
        char *s = NULL;
        ASSERT_EQ(lf_plan_to_text(p, &s), 0);
        return s;
}

/* The plan's JSON and text against NAME.plan.json and NAME.plan.txt; then the JSON read back
 * must give the same JSON and text again (the installer plans from that JSON). */
static void golden(const char *name, const char *inv, const char *lab, const char *node) {
        _cleanup_plan_ lf_plan *p = build(inv, lab, node), *back = NULL;
        _cleanup_free_ char *json = plan_json(p), *text = plan_text(p), *gj = NULL, *gt = NULL;
        _cleanup_free_ char *json2 = NULL, *text2 = NULL;
        _cleanup_json_ json_object *j = NULL;
        lf_json_ctx ctx;
        lf_diag d = {};

        ASSERT_TRUE(asprintf(&gj, DIR "%s.plan.json", name) > 0);
        ASSERT_TRUE(asprintf(&gt, DIR "%s.plan.txt", name) > 0);
        ASSERT_GOLDEN(json, gj);
        ASSERT_GOLDEN(text, gt);

        ctx = (lf_json_ctx){&d, "plan.json"};
        ASSERT_EQ(lf_json_parse(&ctx, json, strlen(json), &j), 0);
        ASSERT_EQ(lf_plan_from_json("plan.json", j, &d, &back), 0);
        ASSERT_EQ(d.n, 0);
        json2 = plan_json(back);
        text2 = plan_text(back);
        ASSERT_STREQ(json2, json);
        ASSERT_STREQ(text2, text);
}

TEST(storage_2ssd_2hdd) {
        golden("storage-2ssd-2hdd", "storage-2ssd-2hdd", "room", "store1");
}

TEST(storage_1ssd_3hdd) {
        golden("storage-1ssd-3hdd", "storage-1ssd-3hdd", "room", "store1");
}

TEST(storage_nvme_sata) {
        golden("storage-nvme-sata", "storage-nvme-sata", "room", "store1");
}

TEST(storage_ssd_only) {
        golden("storage-ssd-only", "storage-ssd-only", "room", "store1");
}

TEST(storage_hdd_only) {
        golden("storage-hdd-only", "storage-hdd-only", "room", "store1");
}

TEST(usb_sd_and_small_disks_skipped) {
        golden("skipped-disks", "skipped-disks", "room", "kvm3");
}

TEST(kvm_one_disk) {
        golden("kvm-one-disk", "kvm-one-disk", "room", "kvm1");
}

/* No storage node in the lab: no mount, no warning, a static address, the 10G NIC unused. */
TEST(kvm_without_storage_node) {
        golden("kvm-without-storage", "kvm-one-disk", "kvm-only", "kvm1");
}

TEST(sysctl_override) {
        golden("sysctl-override", "sysctl-override", "room", "kvm2");
}

TEST(small_boot_disk) {
        golden("small-boot-disk", "small-boot-disk", "room", "kvm1");
}

TEST(bond_with_static_address) {
        golden("bond", "bond", "bond", "login");
}

TEST(login_and_storage_on_one_pc) {
        golden("login-storage", "login-storage", "small", "hub");
}

TEST(rebuild_own_layout_under_policy_never) {
        golden("rebuild", "rebuild", "room", "store1");
}

TEST(old_signatures_policy_listed) {
        golden("wipe-listed", "old-signatures", "wipe-listed", "store1");
}

TEST(old_signatures_policy_all) {
        golden("wipe-all", "old-signatures", "wipe-all", "store1");
}

static const lf_plan_net *net_by_peer(const lf_plan *p, const char *peer) {
        for (size_t i = 0; i < p->n_network; i++)
                if (p->network[i].peer && streq(p->network[i].peer->node, peer))
                        return &p->network[i];
        return NULL;
}

/* Both ends of each link compute the same /31 from the manifest alone, the storage side even,
 * whichever way round the link was written. */
TEST(three_kvm_nodes_on_one_storage_node) {
        static const char *const kvms[] = {"kvm1", "kvm2", "kvm3"};
        static const char *const invs[] = {"kvm-one-disk", "sysctl-override", "skipped-disks"};
        _cleanup_plan_ lf_plan *s = build("storage-2ssd-2hdd", "room", "store1");

        for (size_t i = 0; i < 3; i++) {
                _cleanup_plan_ lf_plan *k = build(invs[i], "room", kvms[i]);
                const lf_plan_net *sn = net_by_peer(s, kvms[i]), *kn = net_by_peer(k, "store1");
                char even[32], odd[32];

                snprintf(even, sizeof(even), "10.10.0.%zu", 2 * i);
                snprintf(odd, sizeof(odd), "10.10.0.%zu", 2 * i + 1);
                ASSERT_TRUE(sn && kn);
                ASSERT_EQ(sn->n_addresses, 1);
                ASSERT_EQ(kn->n_addresses, 1);
                ASSERT_TRUE(strneq(sn->addresses[0], even, strlen(even)) &&
                            streq(sn->addresses[0] + strlen(even), "/31"));
                ASSERT_TRUE(strneq(kn->addresses[0], odd, strlen(odd)) &&
                            streq(kn->addresses[0] + strlen(odd), "/31"));
                ASSERT_STREQ(sn->peer->address, odd);
                ASSERT_STREQ(kn->peer->address, even);
                ASSERT_EQ(sn->mtu, 9000);
                ASSERT_TRUE(sn->gateway == NULL && kn->gateway == NULL);
                ASSERT_EQ(k->n_mounts, 1);
                ASSERT_TRUE(strneq(k->mounts[0].source, even, strlen(even)));
        }
}

TEST(same_input_same_bytes) {
        _cleanup_plan_ lf_plan *a = build("storage-nvme-sata", "room", "store1");
        _cleanup_plan_ lf_plan *b = build("storage-nvme-sata", "room", "store1");
        _cleanup_free_ char *ja = plan_json(a), *jb = plan_json(b);
        _cleanup_free_ char *ta = plan_text(a), *tb = plan_text(b);

        ASSERT_STREQ(ja, jb);
        ASSERT_STREQ(ta, tb);
}

/* The kernel names disks as they finish probing, so the same PC can show its two SSDs as
 * sda/sdb at one boot and sdb/sda at the next: the plan still picks the same physical boot
 * disk and lists the disks in the same order (by stable names: by-id, else model and serial). */
static void swapped_same_layout(bool with_by_id) {
        lf_manifest *m = load_lab("room");
        lf_inventory *inv = load_inventory("storage-2ssd-2hdd");
        lf_plan *a = NULL, *b = NULL;
        lf_diag d = {};

        ASSERT_EQ(inv->n_disks, 4);
        /* The installer runs without udev: its inventories have serials, no by-id paths. */
        for (size_t i = 0; !with_by_id && i < inv->n_disks; i++)
                inv->disks[i].by_id[0] = '\0';
        ASSERT_EQ(lf_plan_build(m, "store1", inv, &d, &a), 0);
        for (size_t i = 0; i < 4; i += 2) { /* sda <-> sdb, sdc <-> sdd */
                char *name = inv->disks[i].name, *path = inv->disks[i].path;
                inv->disks[i].name = inv->disks[i + 1].name;
                inv->disks[i].path = inv->disks[i + 1].path;
                inv->disks[i + 1].name = name;
                inv->disks[i + 1].path = path;
        }
        ASSERT_EQ(lf_plan_build(m, "store1", inv, &d, &b), 0);
        ASSERT_EQ(d.n, 0);
        ASSERT_EQ(b->n_disks, a->n_disks);
        for (size_t i = 0; i < a->n_disks; i++) {
                ASSERT_STREQ(b->disks[i].serial, a->disks[i].serial);
                ASSERT_STREQ(b->disks[i].layout, a->disks[i].layout);
                ASSERT_TRUE(!streq(b->disks[i].name, a->disks[i].name));
        }
        ASSERT_STREQ(a->disks[0].layout, "boot");
        lf_plan_free(a);
        lf_plan_free(b);
        lf_inventory_free(inv);
        lf_manifest_free(m);
}

TEST(kernel_names_swapped_same_layout) {
        swapped_same_layout(true);
        swapped_same_layout(false);
}

/* The JSON keys and their order are the contract of DESIGN §5.3. */
TEST(json_top_level_keys) {
        static const char *const keys[] = {
                "node",    "role",   "disks",   "partitions", "arrays",   "volume_groups",
                "logical_volumes", "filesystems", "exports", "mounts", "network", "sysctl",
                "warnings", "skipped_disks",
        };
        _cleanup_plan_ lf_plan *p = build("kvm-one-disk", "room", "kvm1");
        _cleanup_json_ json_object *j = NULL;
        size_t i = 0;

        ASSERT_EQ(lf_plan_to_json(p, &j), 0);
        json_object_object_foreach(j, key, val) {
                (void)val;
                ASSERT_TRUE(i < ELEMENTSOF(keys));
                ASSERT_STREQ(key, keys[i]);
                i++;
        }
        ASSERT_EQ(i, ELEMENTSOF(keys));
}

/* ---- Refused plans: every message exactly. ---- */

/* Builds and expects failure; returns the diagnostics (caller clears). */
static lf_diag refuse(const char *inv, const char *lab, const char *node) {
        lf_manifest *m = load_lab(lab);
        lf_inventory *i = load_inventory(inv);
        lf_diag d = {};
        lf_plan *p = NULL;

        int r = lf_plan_build(m, node, i, &d, &p);
        lf_manifest_free(m);
        lf_inventory_free(i);
        ASSERT_EQ(r, -EINVAL);
        ASSERT_TRUE(p == NULL);
        return d;
}

TEST(error_unknown_node) {
        lf_diag d = refuse("kvm-one-disk", "room", "kvm9");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0], "room.xml:3: no node named 'kvm9' in this lab; its nodes are: "
                                "store1, kvm1, kvm2, kvm3, login; pass one of them with --node");
        lf_diag_clear(&d);
}

TEST(error_no_usable_disk) {
        lf_diag d = refuse("no-usable-disk", "room", "kvm3");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0],
                     "room.xml:16: node kvm3 (role kvm) has no disk labforge can install on "
                     "(sda: the installer booted from it; removable medium; USB disk, mmcblk0: "
                     "SD/MMC card); it needs an internal, non-removable disk of at least 8 GiB "
                     "that the installer did not boot from: add one, or check that the "
                     "inventory is from this PC");
        lf_diag_clear(&d);
}

TEST(error_storage_without_room_for_vms) {
        lf_diag d = refuse("storage-tiny", "room", "store1");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0],
                     "room.xml:10: node store1 (role storage) has no room for the VM store: its "
                     "only usable disk sda (29.8 GiB) is all taken by the root file system (32 "
                     "GiB + 8 GiB are needed before a boot disk gives space to the VM store); "
                     "add a disk of at least 8 GiB");
        lf_diag_clear(&d);
}

/* Wrong management MAC and no NIC for the link: both reported at once. */
TEST(error_missing_nics) {
        lf_diag d = refuse("wrong-nics", "room", "kvm1");
        ASSERT_EQ(d.n, 2);
        ASSERT_STREQ(d.msgs[0],
                     "room.xml:11: node kvm1: management MAC 52:54:00:00:02:01 is on no NIC of "
                     "the inventory (NICs: eno1 52:54:00:00:02:99); fix the MAC in the manifest, "
                     "or check that the inventory is from this PC");
        ASSERT_STREQ(d.msgs[1],
                     "room.xml:18: node kvm1: storage link MAC (link to store1) "
                     "52:54:00:00:02:11 is on no NIC of the inventory (NICs: eno1 "
                     "52:54:00:00:02:99); fix the MAC in the manifest, or check that the "
                     "inventory is from this PC");
        lf_diag_clear(&d);
}

TEST(error_bond_member_missing) {
        lf_diag d = refuse("bond-member-missing", "bond", "login");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0],
                     "bond.xml:9: node login: bond0 member MAC 52:54:00:00:03:02 is on no NIC "
                     "of the inventory (NICs: eno1 52:54:00:00:03:01); fix the MAC in the "
                     "manifest, or check that the inventory is from this PC");
        lf_diag_clear(&d);
}

TEST(error_old_signatures_policy_never) {
        lf_diag d = refuse("old-signatures", "room", "store1");
        ASSERT_EQ(d.n, 3);
        ASSERT_STREQ(d.msgs[0],
                     "room.xml:10: disk sda (Samsung SSD 870 EVO 500GB, serial S6PWNS0T412345A, "
                     "/dev/disk/by-id/ata-Samsung_SSD_870_EVO_500GB_S6PWNS0T412345A) is not "
                     "blank: it holds gpt, ext4, and the disk policy for node store1 is "
                     "wipe=\"never\", so labforge will not erase it; to erase it, add "
                     "<disk-policy wipe=\"listed\"><wipe disk=\"S6PWNS0T412345A\"/></disk-policy> "
                     "to node store1 (or wipe=\"all\" to erase every disk of it); to keep its "
                     "data, take the disk out of the PC");
        ASSERT_CONTAINS(d.msgs[1], "room.xml:10: disk sdb (Samsung SSD 870 EVO 500GB, serial "
                                   "S6PWNS0T412377M, ");
        ASSERT_CONTAINS(d.msgs[1], "it holds linux_raid_member, and");
        ASSERT_CONTAINS(d.msgs[2], "room.xml:10: disk sdc (WDC WD20EFRX-68EUZN0, serial "
                                   "WD-WCC4M0ABCDE1, ");
        ASSERT_CONTAINS(d.msgs[2], "it holds gpt, LVM2_member, and");
        lf_diag_clear(&d);
}

TEST(error_old_signatures_policy_listed_not_listed) {
        lf_diag d = refuse("old-signatures", "wipe-listed-partial", "store1");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0],
                     "wipe-listed-partial.xml:8: disk sdc (WDC WD20EFRX-68EUZN0, serial "
                     "WD-WCC4M0ABCDE1, /dev/disk/by-id/ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M0ABCDE1) "
                     "is not blank: it holds gpt, LVM2_member, and this disk policy's wipe list "
                     "does not name it, so labforge will not erase it; to erase it, add <wipe "
                     "disk=\"WD-WCC4M0ABCDE1\"/> to this <disk-policy>; to keep its data, take "
                     "the disk out of the PC");
        lf_diag_clear(&d);
}

TEST(error_layout_of_another_node) {
        lf_diag d = refuse("foreign-layout", "room", "store1");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0],
                     "room.xml:10: disk sdb (CT1000MX500SSD1, serial 2251E6B3C4E7, "
                     "/dev/disk/by-id/ata-CT1000MX500SSD1_2251E6B3C4E7) is not blank: it holds "
                     "gpt, vfat, ext4, LVM2_member (its partition name lf:kvm2:bios is a "
                     "labforge layout of another node: was the disk moved from that PC?), and "
                     "the disk policy for node store1 is wipe=\"never\", so labforge will not "
                     "erase it; to erase it, add <disk-policy wipe=\"listed\"><wipe "
                     "disk=\"2251E6B3C4E7\"/></disk-policy> to node store1 (or wipe=\"all\" to "
                     "erase every disk of it); to keep its data, take the disk out of the PC");
        lf_diag_clear(&d);
}

/* ---- Reading plans back ---- */

TEST(plan_load_reads_golden_file) {
        lf_plan *p = NULL;
        lf_diag d = {};

        int r = lf_plan_load(lf_test_path(DIR "kvm-one-disk.plan.json"), &d, &p);
        lf_diag_print(&d);
        lf_diag_clear(&d);
        ASSERT_EQ(r, 0);
        char *json = plan_json(p);
        lf_plan_free(p);
        char *want = lf_test_read_file(DIR "kvm-one-disk.plan.json");
        int same = streq(json, want);
        free(json);
        free(want);
        ASSERT_TRUE(same);
}

TEST(plan_load_missing_file) {
        lf_plan *p = NULL;
        lf_diag d = {};

        ASSERT_TRUE(lf_plan_load("/nonexistent/plan.json", &d, &p) < 0);
        ASSERT_TRUE(p == NULL);
        ASSERT_EQ(d.n, 1);
        ASSERT_CONTAINS(d.msgs[0], "/nonexistent/plan.json: cannot open");
        lf_diag_clear(&d);
}

static lf_diag bad_plan(const char *edit_from, const char *edit_to) {
        _cleanup_plan_ lf_plan *p = build("kvm-one-disk", "room", "kvm1"), *back = NULL;
        _cleanup_free_ char *json = plan_json(p);
        _cleanup_json_ json_object *j = NULL;
        lf_diag d = {};
        lf_json_ctx ctx = {&d, "plan.json"};

        char *at = strstr(json, edit_from);
        ASSERT_TRUE(at);
        _cleanup_free_ char *edited = NULL;
        ASSERT_TRUE(asprintf(&edited, "%.*s%s%s", (int)(at - json), json, edit_to,
                             at + strlen(edit_from)) > 0);
        ASSERT_EQ(lf_json_parse(&ctx, edited, strlen(edited), &j), 0);
        ASSERT_EQ(lf_plan_from_json("plan.json", j, &d, &back), -EINVAL);
        ASSERT_TRUE(back == NULL);
        return d;
}

TEST(plan_json_wrong_type) {
        lf_diag d = bad_plan("\"size_bytes\": 1000204886016", "\"size_bytes\": \"1 TB\"");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0], "plan.json: disks[0].size_bytes: expected an integer, got a "
                                "string");
        lf_diag_clear(&d);
}

TEST(plan_json_missing_key) {
        lf_diag d = bad_plan("\"kind\": \"management\",", "");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0], "plan.json: network[0]: missing required key \"kind\"");
        lf_diag_clear(&d);
}

TEST(plan_json_unknown_value) {
        lf_diag d = bad_plan("\"class\": \"fast\"", "\"class\": \"quick\"");
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0], "plan.json: disks[0].class: \"quick\" is not one of \"fast\", "
                                "\"bulk\"");
        lf_diag_clear(&d);
}

TEST(plan_part_type_guids) {
        ASSERT_STREQ(lf_plan_part_type_guid("esp"), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        ASSERT_STREQ(lf_plan_part_type_guid("bios-boot"), "21686148-6449-6E6F-744E-656564454649");
        ASSERT_TRUE(lf_plan_part_type_guid("ntfs") == NULL);
}
