/* labforged: the role daemon of every installed node. Thin: parses the options and runs the
 * daemon with the subsystems this build has. */
#include <getopt.h>
#include <stdio.h>

#include "daemon.h"
#include "log.h"
#include "power.h"
#include "storage.h"
#include "vms.h"

/* The parts that act on the machine, in the order commands are offered to them: the VM driver
 * (VM life cycle; local overlays when the lab has no storage node; it refuses a power-off while
 * VMs run), the storage runtime (VM disks on the storage node), then power. */
static const lf_role_subsystem *const subsystems[] = {&lf_vms_subsystem, &lf_storage_subsystem,
                                                      &lf_power_subsystem};

static void usage(FILE *f) {
        fprintf(f, "usage: labforged [--config DIR] [--state-dir DIR] [--verbose]\n\n"
                   "The labforge role daemon: reads DIR/node.conf (default /etc/labforge) and\n"
                   "the lab manifest it names, writes corosync.conf, starts corosync when it\n"
                   "does not run, and takes part in the cluster: reports this node, follows\n"
                   "the leader, or schedules as the leader. Its admin socket is\n"
                   "STATE-DIR/labforge.sock (default /var/lib/labforge, or\n"
                   "$LABFORGE_STATE_DIR), which 'labforge status' asks.\n\n"
                   "       labforged [--config DIR] --disk disk_create|disk_reset|disk_delete VM "
                   "[TEMPLATE]\n\n"
                   "On the storage node, makes, resets or deletes a VM's disk (its snapshot of\n"
                   "the golden origin, mounted and exported) by hand, as the leader's command\n"
                   "does.\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"state-dir", required_argument, NULL, 's'},
                {"verbose", no_argument, NULL, 'v'},
                {"disk", required_argument, NULL, 'd'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        lf_daemon_options o = {.subsystems = subsystems, .n_subsystems = ELEMENTSOF(subsystems)};
        const char *disk = NULL;
        int c;

        lf_log_set_program("labforged");
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        o.config_dir = optarg;
                        break;
                case 's':
                        o.state_dir = optarg;
                        break;
                case 'v':
                        lf_log_set_level(LF_LOG_DEBUG);
                        break;
                case 'd':
                        disk = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (disk) {
                if (optind >= argc || argc - optind > 2) {
                        log_error("--disk %s takes the VM's name and, to create or reset, its "
                                  "template; see 'labforged --help'.",
                                  disk);
                        return 2;
                }
                return lf_storage_cli(o.config_dir ? o.config_dir : LF_DAEMON_DEFAULT_CONFIG_DIR,
                                      disk, argv[optind],
                                      argc - optind == 2 ? argv[optind + 1] : NULL);
        }
        if (optind < argc) {
                log_error("unexpected argument '%s'; see 'labforged --help'.", argv[optind]);
                return 2;
        }
        return lf_daemon_run(&o);
}
