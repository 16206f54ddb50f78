/* labforge-install: runs on the PC being installed. Thin: picks the verb and hands it on. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "verbs.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *help;
} verbs[] = {
        {"probe", verb_probe, "print this machine's hardware inventory (disks, NICs, firmware)"},
        {"install", verb_install, "install this PC into its role (settings: kernel command line)"},
        {"extract", verb_extract, "verify an image and extract it into a directory, timed"},
};

static void usage(FILE *f) {
        fprintf(f, "usage: labforge-install VERB [OPTIONS]\n\nverbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
        fprintf(f, "\n'labforge-install VERB --help' describes each verb's options.\n");
}

int main(int argc, char **argv) {
        lf_log_set_program("labforge-install");
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                usage(stdout);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[1], verbs[i].name))
                        return verbs[i].run(argc - 1, argv + 1);
        log_error("unknown verb '%s'; run 'labforge-install --help' for the list.", argv[1]);
        return 2;
}
