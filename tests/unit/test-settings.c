/* Installer settings: the labforge.* words of a kernel command line, options over them, and
 * the checks that name the key of every bad value or combination. */
#include <stdlib.h>

#include "../../installer/settings.h"
#include "test.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF"

TEST(reads_the_labforge_words_of_a_command_line) {
        lf_settings s = {};
        lf_diag d = {};

        ASSERT_EQ(lf_settings_parse_cmdline(&s,
                                            "BOOT_IMAGE=/vmlinuz labforge.node=kvm1 quiet "
                                            "labforgex.node=no labforge.image=\"http://a/b c\"\n"
                                            "labforge.net=dhcp labforge.test=0 labforge.shell=1 labforge.fetch=stream "
                                            "labforge.node=kvm2 labforge.plan=x=y",
                                            "/proc/cmdline", &d),
                  0);
        ASSERT_EQ(d.n, 0);
        ASSERT_STREQ(s.node, "kvm2"); /* the later word wins, as in the kernel */
        ASSERT_STREQ(s.image, "http://a/b c");
        ASSERT_STREQ(s.plan, "x=y");
        ASSERT_STREQ(s.origin[4], "labforge.node= (/proc/cmdline)");
        ASSERT_TRUE(!s.manifest && !s.mode && !s.appliance);

        /* An option overrides the command line and is named as an option. */
        ASSERT_EQ(lf_settings_set(&s, "node", "kvm3", "--node"), 0);
        ASSERT_STREQ(s.node, "kvm3");
        ASSERT_STREQ(s.origin[4], "--node");
        ASSERT_EQ(lf_settings_set(&s, "nodes", "x", "--nodes"), -EINVAL);
        lf_settings_clear(&s);
}

TEST(unknown_keys_and_keys_without_values_are_reported) {
        lf_settings s = {};
        lf_diag d = {};

        ASSERT_EQ(lf_settings_parse_cmdline(&s, "labforge.sha265=abc labforge.node labforge.x",
                                            "cmdline", &d),
                  -EINVAL);
        ASSERT_EQ(d.n, 3);
        ASSERT_CONTAINS(d.msgs[0], "cmdline: unknown setting 'labforge.sha265'");
        ASSERT_CONTAINS(d.msgs[1], "cmdline: labforge.node needs a value (labforge.node=...)");
        ASSERT_CONTAINS(d.msgs[2], "unknown setting 'labforge.x'");
        lf_diag_clear(&d);
        lf_settings_clear(&s);
}

/* Runs the checks on "key=value ..." settings; returns the problems joined by newlines. */
static char *check(const char *words) {
        lf_settings s = {};
        lf_diag d = {};
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);

        ASSERT_EQ(lf_settings_parse_cmdline(&s, words, "cmdline", &d), 0);
        int r = lf_settings_check(&s, &d);
        ASSERT_EQ(r, d.n ? -EINVAL : 0);
        for (size_t i = 0; i < d.n; i++)
                fprintf(f, "%s\n", d.msgs[i]);
        fclose(f);
        lf_diag_clear(&d);
        lf_settings_clear(&s);
        return out;
}

static void check_ok(const char *words) {
        _cleanup_free_ char *p = check(words);
        if (*p)
                lf_test_fail(__FILE__, __LINE__, "'%s' refused:\n%s", words, p);
}

static void check_bad(const char *words, const char *want) {
        _cleanup_free_ char *p = check(words);
        if (!strstr(p, want))
                lf_test_fail(__FILE__, __LINE__, "'%s': expected \"%s\", got:\n%s", words, want, p);
}

TEST(accepts_each_mode_of_design_section_4) {
        check_ok("labforge.manifest=/lab.xml labforge.node=kvm1 labforge.image=/i "
                 "labforge.sha256=" SHA);
        check_ok("labforge.plan=http://a/p.json labforge.image=http://a/i labforge.sha256=" SHA
                 " labforge.reboot=0");
        check_ok("labforge.appliance=http://192.168.50.1:8180/api/v1/nodes/52:54:00:00:02:01");
        check_ok("labforge.appliance=https://a labforge.token=t labforge.mode=install");
        check_ok("labforge.mode=discover");
        check_ok("labforge.mode=discover labforge.appliance=http://a labforge.reboot=1");
}

TEST(names_the_key_of_each_bad_value_or_combination) {
        check_bad("labforge.mode=wipe", "labforge.mode= (cmdline): 'wipe' is not a mode");
        check_bad("labforge.mode=discover labforge.reboot=yes",
                  "labforge.reboot= (cmdline): 'yes' must be 1 (reboot when done) or 0");
        check_bad("labforge.mode=discover labforge.sha256=abc",
                  "labforge.sha256= (cmdline): 'abc' is not a SHA-256 (64 hex digits)");
        check_bad("labforge.appliance=/api", "'/api' is not an http:// or https:// URL");
        check_bad("labforge.appliance=http://a labforge.image=/i",
                  "labforge.image= (cmdline): not with labforge.appliance=");
        check_bad("labforge.token=t labforge.mode=discover", "a token is only for");
        check_bad("", "nothing to install from");
        check_bad("labforge.node=kvm1 labforge.image=/i labforge.sha256=" SHA,
                  "labforge.manifest= (or --manifest) is missing");
        check_bad("labforge.manifest=/m labforge.image=/i labforge.sha256=" SHA,
                  "labforge.node= (or --node) is missing");
        check_bad("labforge.manifest=/m labforge.node=n labforge.sha256=" SHA,
                  "labforge.image= (or --image) is missing");
        check_bad("labforge.plan=/p labforge.image=/i",
                  "labforge.sha256= (or --sha256) is missing");
        check_bad("labforge.plan=/p labforge.manifest=/m labforge.node=n labforge.image=/i "
                  "labforge.sha256=" SHA,
                  "give a ready plan or a manifest to plan from, not both");
        check_bad("labforge.node= labforge.mode=discover",
                  "labforge.node= (cmdline): the value is empty");
}

TEST(reboot_and_discover_defaults) {
        lf_settings s = {};
        ASSERT_TRUE(lf_settings_reboot(&s));
        ASSERT_TRUE(!lf_settings_discover(&s));
        ASSERT_EQ(lf_settings_set(&s, "reboot", "0", "--reboot"), 0);
        ASSERT_EQ(lf_settings_set(&s, "mode", "discover", "--mode"), 0);
        ASSERT_TRUE(!lf_settings_reboot(&s));
        ASSERT_TRUE(lf_settings_discover(&s));
        lf_settings_clear(&s);
}
