/* labforge: the admin's command line. Thin: picks the verb and hands it the arguments. */
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
        {"validate", verb_validate, "check a lab manifest and summarise the room"},
        {"schedule", verb_schedule, "print the VM scheduler's plan for a cluster snapshot"},
        {"simulate", verb_simulate, "replay a classroom day through the scheduler and compare"},
        {"plan", verb_plan, "print the install plan of one node (manifest + inventory)"},
        {"serve", verb_serve, "run the appliance: PXE boot scripts, images, node API"},
        {"nodes", verb_nodes, "list the PCs the appliance knows, their state and progress"},
        {"assign", verb_assign, "give a discovered PC a role and a name"},
        {"rebuild", verb_rebuild, "reinstall a node with the same identity on its next boot"},
        {"logs", verb_logs, "print a node's events and why its install failed"},
        {"forget", verb_forget, "forget a PC that is not in the manifest"},
        {"image", verb_image, "pack a role's root file system into an installable image"},
        {"status", verb_status, "ask labforged how the cluster stands: quorum, leader, hosts, VMs"},
        {"vm", verb_vm, "start VMs of a template, or stop, reset or delete one (cluster leader)"},
        {"host", verb_host, "put a VM host into maintenance or take it out (cluster leader)"},
        {"balance", verb_balance, "run the VM scheduler now, or only show its plan (--dry-run)"},
};

static void usage(FILE *f) {
        fprintf(f, "usage: labforge VERB [OPTIONS]\n\nverbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
        fprintf(f, "\n'labforge VERB --help' describes each verb's options.\n");
}

int main(int argc, char **argv) {
        lf_log_set_program("labforge");
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
        log_error("unknown verb '%s'; run 'labforge --help' for the list.", argv[1]);
        return 2;
}
