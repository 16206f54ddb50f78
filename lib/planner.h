/* The planner (DESIGN §5.3): the lab manifest and one PC's inventory in, that node's install
 * plan out. A pure function: no I/O, and the same input always gives the same plan. */
#pragma once

#include "diag.h"
#include "inventory.h"
#include "manifest.h"
#include "plan.h"

/* The layout decisions, named so the installer, the tests and the README can refer to them. */
#define LF_PLAN_ALIGN (1ull << 20) /* partitions start and end on 1 MiB boundaries */
#define LF_PLAN_MIN_DISK (8ull << 30) /* smaller disks are left alone */
#define LF_PLAN_BIOS_SIZE (1ull << 20)
#define LF_PLAN_ESP_SIZE (512ull << 20)
#define LF_PLAN_ROOT_SIZE (32ull << 30)
/* A boot disk smaller than root + this gives root the whole rest and nothing to its class. */
#define LF_PLAN_MIN_REST (8ull << 30)
/* The /var/lib/labforge volume of a node that combines storage with login or kvm. */
#define LF_PLAN_STATE_SIZE (16ull << 30)
#define LF_PLAN_CHUNK_KIB 512
#define LF_PLAN_VG "labvg"
#define LF_PLAN_VM_DIR "/srv/labforge/vms"
#define LF_PLAN_BASE_DIR "/srv/labforge/base"
#define LF_PLAN_STATE_DIR "/var/lib/labforge"

/* Builds the plan of node `node_name`. Every problem (unknown node, no usable disk, a disk with
 * data the disk policy does not allow to erase, a NIC missing from the inventory, ...) is added
 * to diag as "FILE:LINE: what is wrong; what to do", pointing into the manifest, and -EINVAL is
 * returned; *ret is then untouched. */
int lf_plan_build(const lf_manifest *m, const char *node_name, const lf_inventory *inv,
                  lf_diag *diag, lf_plan **ret);
