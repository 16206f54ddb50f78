/* Inventory format (DESIGN §5.2): round trip through JSON, and one exact message for every kind
 * of bad input. */
#include "inventory.h"
#include "json.h"
#include "test.h"

/* A valid inventory; each bad-input case below replaces one piece of it. */
static const char base[] =
        "{\"machine\": {\"vendor\": \"V\", \"product\": \"P\", \"serial\": \"S\", \"cpus\": 4,\n"
        "             \"mem_mb\": 8192, \"firmware\": \"bios\"},\n"
        " \"disks\": [{\"name\": \"sda\", \"path\": \"/dev/sda\", \"by_id\": \"\",\n"
        "            \"size_bytes\": 1000, \"rotational\": true, \"removable\": false,\n"
        "            \"transport\": \"sata\", \"model\": \"M\", \"serial\": \"A\",\n"
        "            \"signatures\": [\"gpt\", \"ext4\"]},\n"
        "           {\"name\": \"sdb\", \"path\": \"/dev/sdb\", \"by_id\": \"/dev/disk/by-id/x\",\n"
        "            \"size_bytes\": 2000, \"rotational\": false, \"removable\": false,\n"
        "            \"transport\": \"usb\", \"model\": \"N\", \"serial\": \"B\",\n"
        "            \"signatures\": []}],\n"
        " \"nics\": [{\"name\": \"eth0\", \"mac\": \"52:54:00:00:00:01\", \"speed_mbps\": 1000,\n"
        "           \"driver\": \"e1000\", \"link\": true},\n"
        "          {\"name\": \"eth1\", \"mac\": \"52:54:00:00:00:02\", \"speed_mbps\": 10000,\n"
        "           \"driver\": \"ixgbe\", \"link\": false}]}\n";

#define MACHINE                                                                                    \
        "{\"vendor\": \"\", \"product\": \"\", \"serial\": \"\", \"cpus\": 1, \"mem_mb\": 512, "   \
        "\"firmware\": \"uefi\"}"

/* base with the first occurrence of `from` replaced by `to`; malloc'ed. */
static char *edit(const char *from, const char *to) {
        const char *at = strstr(base, from);
        char *out = NULL;

        if (!at)
                lf_test_fail(__FILE__, __LINE__, "\"%s\" not in the base document", from);
        if (asprintf(&out, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from)) < 0)
                abort();
        return out;
}

/* Loads doc and asserts it fails with exactly the messages given (NULL-terminated). */
static void expect_errors(const char *doc, const char *const *want) {
        lf_diag d = {};
        lf_inventory *inv = (lf_inventory *)0x1; /* must stay untouched */
        size_t n = 0;

        ASSERT_EQ(lf_inventory_load_buffer("inv.json", doc, strlen(doc), &d, &inv), -EINVAL);
        ASSERT_TRUE(inv == (lf_inventory *)0x1);
        for (; want[n]; n++) {
                if (n >= d.n)
                        lf_test_fail(__FILE__, __LINE__, "missing message: %s", want[n]);
                ASSERT_STREQ(d.msgs[n], want[n]);
        }
        if (d.n != n)
                lf_test_fail(__FILE__, __LINE__, "unexpected message: %s", d.msgs[n]);
        lf_diag_clear(&d);
}

static void expect_bad(const char *from, const char *to, const char *want) {
        _cleanup_free_ char *doc = edit(from, to);
        expect_errors(doc, (const char *const[]){want, NULL});
}

static char *to_string(const lf_inventory *inv) {
        _cleanup_json_ json_object *o = NULL;
        ASSERT_EQ(lf_inventory_to_json(inv, &o), 0);
        return lf_json_to_string(o);
}

TEST(base_document_is_valid) {
        lf_diag d = {};
        _cleanup_inventory_ lf_inventory *inv = NULL;

        ASSERT_EQ(lf_inventory_load_buffer("inv.json", base, strlen(base), &d, &inv), 0);
        ASSERT_EQ(d.n, 0);
        ASSERT_EQ(inv->cpus, 4);
        ASSERT_EQ(inv->n_disks, 2);
        ASSERT_EQ(inv->disks[0].n_signatures, 2);
        ASSERT_TRUE(inv->disks[0].signatures[2] == NULL);
        ASSERT_EQ(inv->disks[0].n_labels, 0);
        ASSERT_TRUE(!inv->disks[0].boot_medium);
        ASSERT_TRUE(lf_inv_disk_has_signature(&inv->disks[0], "ext4"));
        ASSERT_TRUE(!lf_inv_disk_has_signature(&inv->disks[1], "ext4"));
        ASSERT_TRUE(lf_inventory_find_disk(inv, "sdb") == &inv->disks[1]);
        ASSERT_TRUE(lf_inventory_find_disk(inv, "sdc") == NULL);
        ASSERT_EQ(inv->nics[1].speed_mbps, 10000);
}

TEST(round_trip_keeps_everything_in_design_order) {
        lf_diag d = {};
        _cleanup_inventory_ lf_inventory *inv = NULL, *again = NULL;
        _cleanup_free_ char *out = NULL, *out2 = NULL;

        ASSERT_EQ(lf_inventory_load(lf_test_path("tests/fixtures/inventory/full.json"), &d, &inv),
                  0);
        ASSERT_STREQ(inv->nics[1].mac, "a0:36:9f:00:00:01"); /* canonicalised */
        ASSERT_EQ(inv->disks[0].n_labels, 2);
        ASSERT_TRUE(inv->disks[1].boot_medium);
        out = to_string(inv);
        /* Optional keys appear only when set: sdb's empty labels and nvme0n1's false
         * boot_medium are dropped. */
        ASSERT_GOLDEN(out, "tests/fixtures/inventory/full.out.json");
        ASSERT_EQ(lf_inventory_load_buffer("out.json", out, strlen(out), &d, &again), 0);
        out2 = to_string(again);
        ASSERT_STREQ(out2, out);
}

TEST(text_form) {
        lf_diag d = {};
        _cleanup_inventory_ lf_inventory *inv = NULL;
        _cleanup_free_ char *text = NULL;

        ASSERT_EQ(lf_inventory_load(lf_test_path("tests/fixtures/inventory/full.json"), &d, &inv),
                  0);
        text = lf_inventory_to_text(inv);
        ASSERT_GOLDEN(text, "tests/fixtures/inventory/full.out.txt");
}

TEST(add_signature_and_label_dedupe_and_limit) {
        lf_inv_disk disk = {};
        char name[32];

        ASSERT_EQ(lf_inv_disk_add_signature(&disk, "gpt"), 1);
        ASSERT_EQ(lf_inv_disk_add_signature(&disk, "ext4"), 1);
        ASSERT_EQ(lf_inv_disk_add_signature(&disk, "gpt"), 0);
        ASSERT_EQ(disk.n_signatures, 2);
        ASSERT_STREQ(disk.signatures[1], "ext4");
        for (int i = 2; i < LF_INVENTORY_MAX_SIGNATURES; i++) {
                snprintf(name, sizeof(name), "s%d", i);
                ASSERT_EQ(lf_inv_disk_add_signature(&disk, name), 1);
        }
        ASSERT_EQ(lf_inv_disk_add_signature(&disk, "one-too-many"), -E2BIG);
        ASSERT_EQ(lf_inv_disk_add_label(&disk, "root"), 1);
        ASSERT_EQ(lf_inv_disk_add_label(&disk, "root"), 0);
        ASSERT_EQ(disk.n_labels, 1);
        lf_inv_disk_clear(&disk);
        ASSERT_TRUE(disk.signatures == NULL && disk.n_signatures == 0);
}

TEST(transports) {
        ASSERT_TRUE(lf_transport_valid("sata"));
        ASSERT_TRUE(lf_transport_valid("unknown"));
        ASSERT_TRUE(!lf_transport_valid("ide"));
        ASSERT_TRUE(!lf_transport_valid("SATA"));
        ASSERT_TRUE(!lf_transport_valid(NULL));
}

TEST(bad_top_level) {
        expect_errors("[1]",
                      (const char *const[]){"inv.json: top level: expected an object, got an array",
                                            NULL});
        expect_errors(
                "{\"machine\": {",
                (const char *const[]){"inv.json:1: malformed JSON: unexpected end of data", NULL});
        _cleanup_free_ char *doc = edit("\"machine\"", "\"machin\"");
        expect_errors(
                doc, (const char *const[]){"inv.json: top level: unknown key \"machin\"; check its "
                                           "spelling (DESIGN §5.2 lists the inventory keys)",
                                           "inv.json: missing required key \"machine\"", NULL});
}

TEST(bad_missing_keys) {
        _cleanup_free_ char *doc = edit(" \"nics\": [", " \"nic\": [");
        expect_errors(doc, (const char *const[]){
                                   "inv.json: top level: unknown key \"nic\"; check its spelling "
                                   "(DESIGN §5.2 lists the inventory keys)",
                                   "inv.json: missing required key \"nics\"", NULL});
        expect_bad("\"cpus\": 4,", "", "inv.json: machine: missing required key \"cpus\"");
        expect_bad("\"by_id\": \"/dev/disk/by-id/x\",", "",
                   "inv.json: disks[1]: missing required key \"by_id\"");
        expect_bad("\"signatures\": []", "\"labels\": []",
                   "inv.json: disks[1]: missing required key \"signatures\"");
        expect_bad(", \"link\": false", "", "inv.json: nics[1]: missing required key \"link\"");
}

TEST(bad_types) {
        expect_bad("\"size_bytes\": 2000", "\"size_bytes\": \"2000\"",
                   "inv.json: disks[1].size_bytes: expected an integer, got a string");
        expect_bad("\"size_bytes\": 1000", "\"size_bytes\": 1000.5",
                   "inv.json: disks[0].size_bytes: expected an integer, got a number");
        expect_bad("\"rotational\": true", "\"rotational\": \"yes\"",
                   "inv.json: disks[0].rotational: expected true or false, got a string");
        expect_bad("\"model\": \"N\"", "\"model\": null",
                   "inv.json: disks[1].model: expected a string, got null");
        expect_bad("\"signatures\": [\"gpt\", \"ext4\"]", "\"signatures\": [\"gpt\", 4]",
                   "inv.json: disks[0].signatures[1]: expected a string, got an integer");
        expect_bad("\"signatures\": []", "\"signatures\": \"gpt\"",
                   "inv.json: disks[1].signatures: expected an array, got a string");
        expect_bad("\"signatures\": []", "\"signatures\": [], \"labels\": \"root\"",
                   "inv.json: disks[1].labels: expected an array, got a string");
        expect_bad("\"signatures\": []", "\"signatures\": [], \"boot_medium\": 1",
                   "inv.json: disks[1].boot_medium: expected true or false, got an integer");
        expect_errors(
                "{\"machine\": [], \"disks\": [], \"nics\": []}",
                (const char *const[]){"inv.json: machine: expected an object, got an array", NULL});
        expect_bad(" \"disks\": [", " \"disks\": [\"sdz\", ",
                   "inv.json: disks[0]: expected an object, got a string");
        expect_bad("\"speed_mbps\": 1000", "\"speed_mbps\": true",
                   "inv.json: nics[0].speed_mbps: expected an integer, got a boolean");
        expect_errors(
                "{\"machine\": " MACHINE ", \"disks\": [], \"nics\": {}}",
                (const char *const[]){"inv.json: nics: expected an array, got an object", NULL});
}

TEST(bad_values) {
        expect_bad("\"cpus\": 4", "\"cpus\": 0",
                   "inv.json: machine.cpus: 0 is out of range; expected 1 to 1000000");
        expect_bad("\"mem_mb\": 8192", "\"mem_mb\": -5",
                   "inv.json: machine.mem_mb: -5 is out of range; expected 1 to 1073741824");
        expect_bad("\"firmware\": \"bios\"", "\"firmware\": \"efi\"",
                   "inv.json: machine.firmware: \"efi\" is not a firmware type; expected \"uefi\" "
                   "or \"bios\"");
        expect_bad("\"size_bytes\": 1000", "\"size_bytes\": -1",
                   "inv.json: disks[0].size_bytes: -1 is out of range; expected 0 to "
                   "9223372036854775807");
        expect_bad("\"transport\": \"usb\"", "\"transport\": \"ide\"",
                   "inv.json: disks[1].transport: \"ide\" is not a transport; expected one of "
                   "sata, sas, nvme, usb, virtio, scsi, mmc, unknown");
        expect_bad("\"name\": \"sda\"", "\"name\": \"\"",
                   "inv.json: disks[0].name: \"\" is not a kernel disk name like \"sda\" or "
                   "\"nvme0n1\"");
        expect_bad("\"name\": \"sda\"", "\"name\": \"../sda\"",
                   "inv.json: disks[0].name: \"../sda\" is not a kernel disk name like \"sda\" or "
                   "\"nvme0n1\"");
        expect_bad("\"path\": \"/dev/sda\"", "\"path\": \"sda\"",
                   "inv.json: disks[0].path: \"sda\" is not an absolute device path like "
                   "\"/dev/sda\"");
        expect_bad("\"by_id\": \"\"", "\"by_id\": \"ata-X\"",
                   "inv.json: disks[0].by_id: \"ata-X\" is neither \"\" nor an absolute path like "
                   "\"/dev/disk/by-id/ata-X_123\"");
        expect_bad("\"mac\": \"52:54:00:00:00:02\"", "\"mac\": \"52:54:00:00:02\"",
                   "inv.json: nics[1].mac: \"52:54:00:00:02\" is not a MAC address; write it "
                   "like \"52:54:00:12:34:56\"");
        expect_bad("\"speed_mbps\": 1000", "\"speed_mbps\": -2",
                   "inv.json: nics[0].speed_mbps: -2 is out of range; expected -1 to 10000000");
        expect_bad("\"name\": \"eth0\"", "\"name\": \"\"",
                   "inv.json: nics[0].name: is empty; expected an interface name like \"enp3s0\"");
        expect_bad("\"model\": \"N\"", "\"model\": \"N\\u0000X\"",
                   "inv.json: disks[1].model: contains a NUL character");
        expect_bad("\"signatures\": []", "\"signatures\": [], \"boot_medum\": true",
                   "inv.json: disks[1]: unknown key \"boot_medum\"; check its spelling (DESIGN "
                   "§5.2 lists the inventory keys)");
}

TEST(bad_duplicates) {
        expect_bad("\"name\": \"sdb\"", "\"name\": \"sda\"",
                   "inv.json: disks[1].name: \"sda\" is also the name of disks[0]; disk names "
                   "must be unique");
        /* The same MAC written differently is still the same NIC. */
        expect_bad("\"mac\": \"52:54:00:00:00:02\"", "\"mac\": \"52-54-00-00-00-01\"",
                   "inv.json: nics[1].mac: 52:54:00:00:00:01 is also the MAC of nics[0]; MACs "
                   "must be unique");
}

TEST(bad_limits) {
        _cleanup_free_ char *long_model = malloc(LF_INVENTORY_MAX_STRING + 32);
        _cleanup_free_ char *sigs = NULL, *disks = NULL;
        size_t len = 0;
        FILE *f;

        snprintf(long_model, LF_INVENTORY_MAX_STRING + 32, "\"model\": \"%0*d\"",
                 LF_INVENTORY_MAX_STRING + 1, 0);
        expect_bad("\"model\": \"N\"", long_model,
                   "inv.json: disks[1].model: is 1025 bytes long; at most 1024 are allowed");

        f = open_memstream(&sigs, &len);
        fputs("\"signatures\": [", f);
        for (int i = 0; i <= LF_INVENTORY_MAX_SIGNATURES; i++)
                fprintf(f, "%s\"s%d\"", i ? ", " : "", i);
        fputs("]", f);
        fclose(f);
        expect_bad("\"signatures\": []", sigs,
                   "inv.json: disks[1].signatures: has 33 entries; at most 32 are allowed");

        f = open_memstream(&disks, &len);
        fputs("{\"machine\": " MACHINE ", \"nics\": [], \"disks\": [", f);
        for (int i = 0; i <= LF_INVENTORY_MAX_DISKS; i++)
                fprintf(f, "%s{}", i ? ", " : "");
        fputs("]}", f);
        fclose(f);
        expect_errors(disks,
                      (const char *const[]){
                              "inv.json: disks: has 257 entries; at most 256 are supported", NULL});
}

TEST(every_problem_is_reported) {
        _cleanup_free_ char *a = edit("\"cpus\": 4", "\"cpus\": \"4\"");
        char *b = strstr(a, "\"transport\": \"sata\"");
        memcpy(b, "\"transport\": \"ide\" ", 19);
        char *c = strstr(a, "\"link\": false");
        memcpy(c, "\"link\": 0    ", 13);
        expect_errors(a, (const char *const[]){
                                 "inv.json: machine.cpus: expected an integer, got a string",
                                 "inv.json: disks[0].transport: \"ide\" is not a transport; "
                                 "expected one of sata, sas, nvme, usb, virtio, scsi, mmc, unknown",
                                 "inv.json: nics[1].link: expected true or false, got an integer",
                                 NULL});
}

TEST(missing_file) {
        lf_diag d = {};
        lf_inventory *inv = NULL;
        const char *path = lf_test_path("tests/fixtures/inventory/does-not-exist.json");

        ASSERT_EQ(lf_inventory_load(path, &d, &inv), -EINVAL);
        ASSERT_TRUE(inv == NULL);
        ASSERT_EQ(d.n, 1);
        ASSERT_CONTAINS(d.msgs[0], "does-not-exist.json: cannot open: No such file or directory");
        lf_diag_clear(&d);
}
