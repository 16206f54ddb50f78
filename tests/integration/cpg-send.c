/* Helper of cluster-corosync.sh, compiled by it: joins CPG group "labforge" on the corosync of
 * the namespace it runs in and multicasts the bytes of each file named on the command line, as
 * a misbehaving or malicious peer would. */
#include <corosync/cpg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BYTES (4u * 1024 * 1024)

int main(int argc, char **argv) {
        cpg_callbacks_t cb = {0};
        struct cpg_name group = {.length = 8};
        cpg_handle_t h;
        static char buf[MAX_BYTES];

        memcpy(group.value, "labforge", 8);
        if (cpg_initialize(&h, &cb) != CS_OK || cpg_join(h, &group) != CS_OK) {
                fprintf(stderr, "cpg-send: cannot join group labforge\n");
                return 1;
        }
        for (int i = 1; i < argc; i++) {
                FILE *f = fopen(argv[i], "rb");
                size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
                struct iovec iov = {.iov_base = buf, .iov_len = n};
                cs_error_t e = CS_ERR_TRY_AGAIN;

                if (f)
                        fclose(f);
                for (int tries = 0; tries < 200 && e == CS_ERR_TRY_AGAIN; tries++) {
                        e = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1);
                        if (e == CS_ERR_TRY_AGAIN)
                                usleep(10000);
                }
                if (e != CS_OK) {
                        fprintf(stderr, "cpg-send: %s: error %d\n", argv[i], e);
                        return 1;
                }
        }
        cpg_leave(h, &group);
        cpg_finalize(h);
        return 0;
}
