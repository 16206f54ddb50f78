/* JSON helpers: errors name the file, line and field; output is stable. SHA-256 as well. */
#include "json.h"
#include "sha256.h"
#include "test.h"

TEST(malformed_json_names_line) {
        lf_diag d = {};
        lf_json_ctx ctx = {&d, "inv.json"};
        json_object *o = NULL;
        const char *bad = "{\n  \"a\": 1,\n  \"b\": ]\n}";

        ASSERT_EQ(lf_json_parse(&ctx, bad, strlen(bad), &o), -EINVAL);
        ASSERT_EQ(d.n, 1);
        ASSERT_CONTAINS(d.msgs[0], "inv.json:3: malformed JSON");
        lf_diag_clear(&d);
        ASSERT_EQ(lf_json_parse(&ctx, "{} x", 4, &o), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "inv.json:1:");
        lf_diag_clear(&d);
}

TEST(typed_getters_name_the_field) {
        lf_diag d = {};
        lf_json_ctx ctx = {&d, "inv.json"};
        _cleanup_json_ json_object *o = NULL;
        const char *doc = "{\"size\": \"big\", \"n\": 5, \"neg\": -1, \"s\": \"x\"}";
        int64_t v = 42;
        const char *s = NULL;

        ASSERT_EQ(lf_json_parse(&ctx, doc, strlen(doc), &o), 0);
        ASSERT_EQ(lf_json_get_int(&ctx, o, "disks[2]", "size", true, 0, INT64_MAX, &v), -EINVAL);
        ASSERT_STREQ(d.msgs[0], "inv.json: disks[2].size: expected an integer, got a string");
        ASSERT_EQ(v, 42);
        ASSERT_EQ(lf_json_get_int(&ctx, o, "", "neg", true, 0, 10, &v), -EINVAL);
        ASSERT_CONTAINS(d.msgs[1], "neg: -1 is out of range");
        ASSERT_EQ(lf_json_get_string(&ctx, o, "machine", "vendor", true, &s), -EINVAL);
        ASSERT_STREQ(d.msgs[2], "inv.json: machine: missing required key \"vendor\"");
        ASSERT_EQ(lf_json_get_int(&ctx, o, "", "n", true, 0, 10, &v), 0);
        ASSERT_EQ(v, 5);
        ASSERT_EQ(lf_json_get_string(&ctx, o, "", "absent", false, &s), 0);
        ASSERT_TRUE(s == NULL);
        lf_diag_clear(&d);
}

TEST(stable_output) {
        _cleanup_json_ json_object *o = json_object_new_object();
        lf_json_add(o, "b", lf_json_new_double(45.0, 2));
        lf_json_add(o, "a", lf_json_new_double(0.123456, 3));
        lf_json_add(o, "p", json_object_new_string("/dev/md/fast"));
        char *s = lf_json_to_string(o);
        ASSERT_STREQ(s, "{\n  \"b\": 45.0,\n  \"a\": 0.123,\n  \"p\": \"/dev/md/fast\"\n}\n");
        free(s);
}

TEST(sha256_known_vectors) {
        char hex[LF_SHA256_HEX_LEN + 1];
        ASSERT_EQ(lf_sha256_buffer("abc", 3, hex), 0);
        ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ASSERT_EQ(lf_sha256_buffer("", 0, hex), 0);
        ASSERT_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        ASSERT_TRUE(lf_sha256_hex_valid(hex));
        ASSERT_TRUE(!lf_sha256_hex_valid("abc"));
        const char *dir = lf_test_tmpdir();
        char path[512];
        snprintf(path, sizeof(path), "%s/f", dir);
        FILE *f = fopen(path, "w");
        fputs("abc", f);
        fclose(f);
        ASSERT_EQ(lf_sha256_file(path, hex), 0);
        ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ASSERT_EQ(lf_sha256_file("/nonexistent", hex), -ENOENT);
}
