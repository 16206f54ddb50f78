/* The running appliance (`labforge serve`): the context its parts share, and the subsystem
 * interface through which serve.c starts, polls and stops them (HTTP, admin socket, dnsmasq). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "state.h"

typedef struct lf_appliance {
        lf_state *state;
        const char *state_dir;
        const char *images_dir;
        const char *manifest_path;
        uint32_t listen_addr; /* host byte order */
        unsigned port;
        char base_url[64]; /* "http://192.168.50.1:8180": what boot scripts and answers name */
        bool dhcp;         /* false with --no-dhcp */

        /* The manifest can be reloaded (SIGHUP) while requests read it: take the read lock
         * to use manifest or manifest_xml, serve.c takes the write lock to swap them. */
        pthread_rwlock_t lock;
        lf_manifest *manifest;
        char *manifest_xml; /* the file as loaded, served to installers */
} lf_appliance;

/* One part of the running appliance. serve.c starts the subsystems in table order after the
 * state is synced with the manifest, polls the fd each one reports (if any) and calls
 * dispatch when it is readable, calls tick about once a second, and stops them in reverse
 * order on SIGTERM/SIGINT. Every callback but start may be NULL. */
typedef struct lf_subsystem {
        const char *name;
        /* Returns 0 with its private data, or a negative errno after logging why. */
        int (*start)(lf_appliance *app, void **ret_data);
        int (*fd)(void *data); /* an fd to poll for input, or -1 */
        void (*dispatch)(void *data);
        void (*tick)(void *data);
        void (*stop)(void *data);
} lf_subsystem;
